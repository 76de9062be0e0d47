package lbconf

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"text/template"
)

// Keepalived is the input of [RenderKeepalived]: one node of the pair.
//
// # Roles
//
// Both nodes start as BACKUP with nopreempt; the first to time out waiting
// for adverts (lb1, whose higher priority gives it the shorter wait) becomes
// MASTER and runs NotifyMaster, which takes the Elastic IP. A node whose
// HAProxy fails its check goes to FAULT (the track script has no weight),
// and the peer takes over. A recovered node stays BACKUP: taking the
// Elastic IP back would cost a second move of 5-6 s for no gain.
//
// # Failover timing
//
// With CheckInterval I, CheckFall F, AdvertInt A and the taking-over peer's
// priority P (skew = (256-P)/256 × A, about 0.6 s for P=100, A=1):
//
//   - HAProxy dies on the MASTER: F failed checks take F×I (2 s for 1 s × 2;
//     up to one check timeout more), then the MASTER enters FAULT and sends
//     a priority-0 advert, so the peer becomes MASTER after its skew time
//     rather than after the full master down interval: about 2.6 s.
//   - The MASTER's host or keepalived dies (no priority-0 advert): the peer
//     becomes MASTER after the master down interval, 3×A + skew, about 3.6 s.
//
// (Measured with the rendered files in two network namespaces: 2.5 s from
// the first failing check, 3.1 s from kill -9.) Then NotifyMaster moves the
// Elastic IP, which takes AWS about 5-6 s, so clients of the Elastic IP see
// roughly 8-10 s of failed connections.
//
// NotifyMaster should act only once the node has stayed MASTER for a
// moment ([SettledMaster]): two BACKUPs can become MASTER together and the
// loser returns to BACKUP at the winner's first advert.
//
// If a BACKUP wrongly becomes MASTER for a while (its adverts from the
// MASTER were lost), it takes the Elastic IP; when the adverts come back,
// it returns to BACKUP, and the real MASTER, hearing a lower-priority
// MASTER, runs NotifyMaster again (notify_master_rx_lower_pri) and takes
// the Elastic IP back. keepalived may start it twice at once then.
//
// # Local include
//
// LocalInclude must define exactly these two keepalived parameters, one per
// line, with no spaces around "=" (keepalived 2.2.7 reads "$IFACE = eth0"
// as an unknown keyword):
//
//	$IFACE=ens5
//	$AUTH_PASS=Ab3dE6gH
//
// AUTH_PASS must be 1 to 8 letters and digits: keepalived uses only 8
// characters (a longer one makes "keepalived -t" fail with "Truncating
// auth_pass to 8 characters"), and "#" or "!" start a comment, silently
// cutting the password short.
type Keepalived struct {
	RouterID string // this node's name, e.g. "lb1"
	SourceIP string // this node's private IPv4 address (unicast_src_ip)
	// PeerIP is the other node's private IPv4 address (unicast_peer), used
	// when PeerIPs is empty.
	PeerIP string
	// PeerIPs are the other nodes' private IPv4 addresses (unicast_peer), in
	// this order: during a rolling replacement the pair briefly has three
	// nodes. At least one, none equal to SourceIP, no duplicates. When set,
	// PeerIP must be "" or one of them.
	PeerIPs         []string
	Priority        int // 1..254, e.g. 150 on lb1, 100 on lb2
	VirtualRouterID int // 1..255, e.g. 51; the same on both nodes
	AdvertInt       int // seconds between adverts, e.g. 1
	// LocalInclude is the path of a root-only file, written at boot, that
	// defines the keepalived parameters $IFACE (the network interface) and
	// $AUTH_PASS (the VRRP password); see "Local include" above.
	LocalInclude  string
	CheckScript   string // path of an executable that exits 0 iff THIS node's HAProxy is healthy (see [CheckScript])
	CheckInterval int    // seconds between checks, e.g. 1; also the check's timeout
	CheckFall     int    // failed checks before FAULT, e.g. 2
	CheckRise     int    // passed checks before leaving FAULT, e.g. 2
	// NotifyMaster is run when this node becomes MASTER, and again when it
	// is MASTER and hears a lower-priority MASTER (notify_master_rx_lower_pri:
	// that one may have taken the Elastic IP). See [TakeoverScript].
	NotifyMaster string
	// NotifyBackup is an optional executable run when this node enters
	// BACKUP or FAULT, or when keepalived stops ("" = none). The sandbox
	// uses it to drop its local VIP; on AWS there is nothing to undo.
	NotifyBackup string
	ScriptUser   string // user the scripts run as, e.g. "root"
}

// validate reports every bad field of k.
func (k Keepalived) validate() error {
	var e errs
	e.name("Keepalived.RouterID", k.RouterID)
	src, srcOK := e.ipv4("Keepalived.SourceIP", k.SourceIP)
	if len(k.PeerIPs) == 0 {
		peer, peerOK := e.ipv4("Keepalived.PeerIP", k.PeerIP)
		if srcOK && peerOK && src == peer {
			e.add("Keepalived.PeerIP", k.PeerIP, "must differ from SourceIP")
		}
	} else {
		seen := map[netip.Addr]bool{}
		for i, p := range k.PeerIPs {
			field := fmt.Sprintf("Keepalived.PeerIPs[%d]", i)
			peer, ok := e.ipv4(field, p)
			switch {
			case !ok:
			case srcOK && peer == src:
				e.add(field, p, "must differ from SourceIP")
			case seen[peer]:
				e.add(field, p, "duplicate peer")
			}
			seen[peer] = true
		}
		if k.PeerIP != "" && !slices.Contains(k.PeerIPs, k.PeerIP) {
			e.add("Keepalived.PeerIP", k.PeerIP, "must be empty or one of PeerIPs when PeerIPs is set")
		}
	}
	e.intRange("Keepalived.Priority", k.Priority, 1, 254)
	e.intRange("Keepalived.VirtualRouterID", k.VirtualRouterID, 1, 255)
	e.intRange("Keepalived.AdvertInt", k.AdvertInt, 1, 255)
	e.path("Keepalived.LocalInclude", k.LocalInclude)
	e.path("Keepalived.CheckScript", k.CheckScript)
	e.intRange("Keepalived.CheckInterval", k.CheckInterval, 1, 3600)
	e.intRange("Keepalived.CheckFall", k.CheckFall, 1, 100)
	e.intRange("Keepalived.CheckRise", k.CheckRise, 1, 100)
	e.path("Keepalived.NotifyMaster", k.NotifyMaster)
	if k.NotifyBackup != "" {
		e.path("Keepalived.NotifyBackup", k.NotifyBackup)
	}
	e.name("Keepalived.ScriptUser", k.ScriptUser)
	return e.err()
}

// peers are the unicast peers: PeerIPs, or PeerIP.
func (k Keepalived) peers() []string {
	if len(k.PeerIPs) > 0 {
		return k.PeerIPs
	}
	return []string{k.PeerIP}
}

// MarkerAddr is the address keepalived puts on the loopback interface
// while this node is MASTER (CIDR notation, for "ip addr").
//
// keepalived 2.2.7's config test ("keepalived -t") fails with "No VIP
// specified; at least one is sensible" (exit 5) for an instance without
// virtual_ipaddress. On AWS the Elastic IP moves through the API, not as a
// VIP, so the instance carries this harmless host-scope loopback address
// instead: it satisfies the check, and "ip -4 addr show dev lo" shows which
// node is MASTER. It is derived from the virtual router id, so it is the
// same on both nodes, and in the sandbox each network namespace has its own
// loopback interface.
func MarkerAddr(virtualRouterID int) string {
	return fmt.Sprintf("127.254.0.%d/32", virtualRouterID)
}

// RenderKeepalived renders keepalived.conf for keepalived 2.2 (checked with
// 2.2.7): one unicast VRRP instance tracking chk_haproxy, whose MASTER runs
// NotifyMaster, advertising to every peer (PeerIPs, or PeerIP). The interface name and the VRRP password are not in the
// file; they come from LocalInclude as ${IFACE} and ${AUTH_PASS}. See
// [Keepalived] for the roles and the failover timing.
func RenderKeepalived(k Keepalived) (string, error) {
	if err := k.validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	err := keepalivedTmpl.Execute(&b, struct {
		Keepalived
		Marker string
		Peers  []string
	}{k, MarkerAddr(k.VirtualRouterID), k.peers()})
	if err != nil {
		return "", err // unreachable: the template and view are fixed
	}
	return b.String(), nil
}

var keepalivedTmpl = template.Must(template.New("keepalived.conf").Parse(`# keepalived.conf for {{.RouterID}}, rendered by github.com/foobar/webstack/components/loadbalancer/lbconf.
# Do not edit: the next deploy overwrites it.

# Defines $IFACE (the VRRP interface) and $AUTH_PASS (the VRRP password), so
# neither is in this file. keepalived reads the include in place: the
# parameters it defines work everywhere below, in vrrp_instance and its
# authentication block too (checked with keepalived 2.2.7).
include {{.LocalInclude}}

global_defs {
    router_id {{.RouterID}}
    enable_script_security
    script_user {{.ScriptUser}}
}

# No weight: a failing check puts this node in FAULT and the peer takes over.
vrrp_script chk_haproxy {
    script "{{.CheckScript}}"
    interval {{.CheckInterval}}
    timeout {{.CheckInterval}}
    fall {{.CheckFall}}
    rise {{.CheckRise}}
}

# Both nodes start BACKUP with nopreempt: a recovered node does not take the
# Elastic IP back, which would cost a second 5-6 s move.
vrrp_instance VI_LB {
    state BACKUP
    nopreempt
    interface ${IFACE}
    virtual_router_id {{.VirtualRouterID}}
    priority {{.Priority}}
    advert_int {{.AdvertInt}}
    unicast_src_ip {{.SourceIP}}
    unicast_peer {
{{- range .Peers}}
        {{.}}
{{- end}}
    }
    check_unicast_src
    authentication {
        auth_type PASS
        auth_pass ${AUTH_PASS}
    }
    # The Elastic IP moves through the EC2 API (notify_master), not as a VIP.
    # keepalived -t rejects an instance without any VIP, so this one is a
    # host-scope marker on lo, present only while this node is MASTER.
    virtual_ipaddress {
        {{.Marker}} dev lo scope host
    }
    track_script {
        chk_haproxy
    }
    notify_master "{{.NotifyMaster}}"
    notify_master_rx_lower_pri "{{.NotifyMaster}}"
{{- if .NotifyBackup}}
    notify_backup "{{.NotifyBackup}}"
    notify_fault "{{.NotifyBackup}}"
    notify_stop "{{.NotifyBackup}}"
{{- end}}
}
`))
