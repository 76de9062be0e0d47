package stacks

import (
	"fmt"
	"slices"
)

// DefaultZoneCount is how many zones a stack uses when its stack file lists
// none.
const DefaultZoneCount = 3

// ResolveZones completes the network's zones once the region's available
// zones are known: an empty list becomes the first DefaultZoneCount of them,
// and every listed zone must be among them.
func (s *Settings) ResolveZones(available []string) error {
	v := &validator{ns: s.Project}
	if len(s.Network.AvailabilityZones) == 0 {
		var usable []string
		for _, az := range available {
			if _, err := ZoneSlot(s.Region, az); err == nil {
				usable = append(usable, az)
			}
		}
		if len(usable) < 2 {
			v.add("network.availabilityZones", s.Network.AvailabilityZones, "region %s offers %d usable zones %v; list at least 2 zones", s.Region, len(usable), usable)
		} else {
			s.Network.AvailabilityZones = usable[:min(DefaultZoneCount, len(usable))]
		}
	}
	for i, az := range s.Network.AvailabilityZones {
		if !slices.Contains(available, az) {
			v.add(fmt.Sprintf("network.availabilityZones[%d]", i), az, "is not an available zone of %s; available: %v", s.Region, available)
		}
	}
	if len(v.problems) > 0 {
		return v.problems
	}
	return nil
}
