package network

import (
	"fmt"
	"github.com/foobar/webstack/components/inputs"
	"net/netip"
)

// SubnetClass is one of the three kinds of subnet, by what routes it has.
type SubnetClass string

// The subnet classes, in the order the layout documents them. The value is
// the word the class's resources carry in their names
// (network-database-us-east-1a): the isolated subnets keep "database" from
// the time they were named after their only user, because renaming them
// would replace them.
const (
	Public   SubnetClass = "public"   // load balancers, NAT gateways; routes to the internet gateway
	Private  SubnetClass = "private"  // web and application servers; routes to NAT (if any)
	Isolated SubnetClass = "database" // the database; no route out of the VPC
)

// SubnetClasses lists the subnet classes.
var SubnetClasses = []SubnetClass{Public, Private, Isolated}

// ZoneSubnets are the CIDR blocks of one availability zone's subnets.
type ZoneSubnets map[SubnetClass]netip.Prefix

// MaxZones is how many zone letters (a to h) the layout has room for.
const MaxZones = 8

// Layout computes every subnet's CIDR block from the VPC's, for each zone.
// A zone's subnets depend only on the VPC CIDR and the zone's own letter
// (a=0 … h=7), never on the zone's position in a list, so adding, removing
// or reordering zones leaves every other subnet where it is:
//
//	private  : first half,    8 slots of VPC/16  (a /16 VPC gives /20s)
//	public   : third quarter, 8 slots of VPC/32  (/21s)
//	database : last quarter,  8 slots of VPC/32  (/21s)
func Layout(vpcCIDR string, zones []string) (map[string]ZoneSubnets, error) {
	vpc, err := netip.ParsePrefix(vpcCIDR)
	if err != nil || !vpc.Addr().Is4() || vpc != vpc.Masked() {
		return nil, fmt.Errorf("network: VPC CIDR %s is not an IPv4 network address", inputs.Show("CIDR", vpcCIDR))
	}
	if vpc.Bits() > 22 {
		return nil, fmt.Errorf("network: VPC CIDR %s is smaller than /22", inputs.Show("CIDR", vpcCIDR))
	}
	out := map[string]ZoneSubnets{}
	for _, z := range zones {
		slot, err := ZoneSlot(z)
		if err != nil {
			return nil, err
		}
		out[z] = ZoneSubnets{
			Private:  subnet(vpc, 4, slot),
			Public:   subnet(vpc, 5, 16+slot),
			Isolated: subnet(vpc, 5, 24+slot),
		}
	}
	return out, nil
}

// ZoneSlot is the zone's letter as a number, its place in the layout:
// us-east-1a → 0, up to MaxZones letters.
func ZoneSlot(zone string) (int, error) {
	if zone == "" || zone[len(zone)-1] < 'a' || zone[len(zone)-1] >= 'a'+MaxZones {
		return 0, fmt.Errorf("network: zone %s does not end in a zone letter a to h", inputs.Show("AvailabilityZones", zone))
	}
	return int(zone[len(zone)-1] - 'a'), nil
}

// subnet is the index-th block of the VPC divided into 2^newBits blocks.
func subnet(vpc netip.Prefix, newBits, index int) netip.Prefix {
	bits := vpc.Bits() + newBits
	base := vpc.Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	n += uint32(index) << (32 - bits)
	addr := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	return netip.PrefixFrom(addr, bits)
}
