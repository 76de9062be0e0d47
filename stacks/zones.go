package stacks

import (
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/network"
)

// MaxZones is how many zones a stack may use: the subnet layout's room.
const MaxZones = network.MaxZones

// Zone is one available zone of the region as the account sees it, and
// what it lacks of what the stack uses.
type Zone struct {
	// ID names the physical zone in every account (use1-az1); Name is
	// this account's name for it (us-east-1a).
	ID, Name string
	// Missing are the instance types and interface endpoint services the
	// stack uses that the zone does not offer.
	Missing []string
}

// ResolveZones maps network.zoneIds to this account's zone names once the
// region's zones are known, and refuses a zone that is not available or
// lacks something the stack uses. An empty list is refused too, with the
// zone IDs that would qualify: the zones are chosen once and committed,
// never re-chosen at each run.
func (s *Settings) ResolveZones(region []Zone) error {
	v := &validator{ns: s.Project}
	byID := map[string]Zone{}
	var ids, qualifying []string
	for _, z := range region {
		byID[z.ID] = z
		ids = append(ids, z.ID)
		if _, err := ZoneSlot(s.Region, z.Name); err == nil && len(z.Missing) == 0 {
			qualifying = append(qualifying, z.ID)
		}
	}
	if len(s.Network.ZoneIDs) == 0 {
		v.add("network.zoneIds", s.Network.ZoneIDs, "is not set: list the zones to spread over by zone ID in the stack file, at least 2; in region %s these offer every instance type and interface endpoint the stack uses: [%s]",
			s.Region, strings.Join(qualifying, ", "))
		return v.problems
	}
	var names []string
	for i, id := range s.Network.ZoneIDs {
		key := fmt.Sprintf("network.zoneIds[%d]", i)
		z, ok := byID[id]
		switch {
		case !ok:
			v.add(key, id, "is not an available zone of region %s; available zone IDs: [%s]; qualifying: [%s]", s.Region, strings.Join(ids, ", "), strings.Join(qualifying, ", "))
		case len(z.Missing) > 0:
			v.add(key, id, "zone %s (%s) does not offer %s, which the stack uses; qualifying zone IDs: [%s]", id, z.Name, strings.Join(z.Missing, ", "), strings.Join(qualifying, ", "))
		default:
			if _, err := ZoneSlot(s.Region, z.Name); err != nil {
				v.add(key, id, "its name in this account, %s, %v", z.Name, err)
			}
			names = append(names, z.Name)
		}
	}
	if len(v.problems) > 0 {
		return v.problems
	}
	s.Network.AvailabilityZones = names
	return nil
}
