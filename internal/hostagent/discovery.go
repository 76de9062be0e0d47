package hostagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/components/webtier/nginxconf"
	"github.com/foobar/webstack/internal/awsapi"
)

// discovery is a Discovery and where it stands.
type discovery struct {
	Discovery
	// listed: the file holds a non-empty list that passed its check (the
	// readiness condition).
	listed bool
	// reloadPending: the file changed, but its reload failed; it is retried
	// every round until it succeeds (the service may not run yet).
	reloadPending bool
}

// name is what the discovery finds, for logs.
func (d *discovery) name() string {
	if d.Name != "" {
		return d.Name
	}
	return "hosts of " + d.Group
}

// topic is the discovery's logging topic prefix.
func (d *discovery) topic() string { return "discover " + d.Path }

// host is a discovered instance.
type host struct{ id, ip string }

// String is "id ip", for logs.
func (h host) String() string { return h.id + " " + h.ip }

// discover lists d's hosts and, if the list changed, rewrites d.Path,
// checks it and reloads, or puts the previous file back.
func (a *Agent) discover(ctx context.Context, d *discovery) {
	hosts, err := a.list(ctx, d)
	if err != nil {
		a.report(d.topic(), errState(err), "%s: %v; keeping %s", d.name(), err, d.Path)
		return
	}
	if len(hosts) == 0 {
		a.report(d.topic(), "empty", "%s: none in group %s is %s and healthy; keeping %s", d.name(), d.Group, strings.Join(d.states(), " or "), d.Path)
		return
	}
	text, err := a.render(d, hosts)
	if err != nil {
		a.report(d.topic(), "render: "+err.Error(), "%s: cannot render %s: %v", d.name(), d.Path, oneLine(err.Error()))
		return
	}
	a.report(d.topic(), "listed "+fmt.Sprint(hosts), "%s: %d: %s", d.name(), len(hosts), joinHosts(hosts))

	old, err := os.ReadFile(d.Path)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.report(d.topic()+" file", err.Error(), "%s: %v", d.name(), err)
		return
	}
	if existed && string(old) == text {
		a.clear(d.topic() + " file")
		d.listed = true
		if d.reloadPending {
			a.reload(ctx, d)
		}
		return
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(d.Path); err == nil {
		mode = st.Mode().Perm()
	}
	if err := writeAtomic(d.Path, text, mode); err != nil {
		a.report(d.topic()+" file", err.Error(), "%s: cannot write %s: %v", d.name(), d.Path, err)
		return
	}
	out, err := a.command(ctx, d.Check)
	if err != nil {
		restored := "put the previous file back"
		if rerr := restore(d.Path, old, existed, mode); rerr != nil {
			restored = fmt.Sprintf("could not put the previous file back: %v", rerr)
		} else if !existed {
			restored = "removed it (there was no previous file)"
		}
		a.report(d.topic()+" file", "check: "+out, "%s: check of %s failed (%s: %v): %s; %s", d.name(), d.Path, strings.Join(d.Check, " "), err, out, restored)
		return
	}
	a.clear(d.topic() + " file")
	a.logf("%s: wrote %s (%d: %s), check passed", d.name(), d.Path, len(hosts), joinHosts(hosts))
	d.listed = true
	a.reload(ctx, d)
}

// reload runs d.Reload.
func (a *Agent) reload(ctx context.Context, d *discovery) {
	out, err := a.command(ctx, d.Reload)
	if err != nil {
		d.reloadPending = true
		a.report(d.topic()+" reload", "failed: "+out, "%s: reload (%s) failed, retrying every round: %v: %s", d.name(), strings.Join(d.Reload, " "), err, out)
		return
	}
	d.reloadPending = false
	a.clear(d.topic() + " reload")
	a.logf("%s: reloaded (%s)", d.name(), strings.Join(d.Reload, " "))
}

// states are the lifecycle states d lists.
func (d *discovery) states() []string {
	if len(d.States) == 0 {
		return []string{awsapi.InService}
	}
	return d.States
}

// list returns d's hosts, sorted by private IP: the instances of d.Group in
// one of d's states, healthy (unless d.Unhealthy), with a private IP; never this host when
// ExcludeSelf (or for keepalived).
func (a *Agent) list(ctx context.Context, d *discovery) ([]host, error) {
	g, err := a.as.DescribeGroup(ctx, d.Group)
	if err != nil {
		return nil, err
	}
	excludeSelf := d.ExcludeSelf || d.Render == RenderKeepalived
	var ids []string
	for _, in := range g.Instances {
		if !slices.Contains(d.states(), in.LifecycleState) || (in.HealthStatus != awsapi.Healthy && !d.Unhealthy) {
			continue
		}
		if excludeSelf && in.InstanceID == a.id {
			continue
		}
		ids = append(ids, in.InstanceID)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	insts, err := a.ec2.DescribeInstances(ctx, ids)
	if err != nil {
		return nil, err
	}
	var hosts []host
	seen := map[string]bool{}
	for _, in := range insts {
		if in.PrivateIP == "" || !slices.Contains(ids, in.InstanceID) || seen[in.InstanceID] {
			continue
		}
		seen[in.InstanceID] = true
		hosts = append(hosts, host{in.InstanceID, in.PrivateIP})
	}
	slices.SortStableFunc(hosts, func(x, y host) int {
		xa, xerr := netip.ParseAddr(x.ip)
		ya, yerr := netip.ParseAddr(y.ip)
		if xerr == nil && yerr == nil {
			if c := xa.Compare(ya); c != 0 {
				return c
			}
		} else if c := strings.Compare(x.ip, y.ip); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	return hosts, nil
}

// render renders d's file for hosts.
func (a *Agent) render(d *discovery, hosts []host) (string, error) {
	switch d.Render {
	case RenderHAProxyBackend:
		if d.HAProxy == nil {
			return "", errors.New("no haproxy backend in the configuration")
		}
		b := *d.HAProxy
		b.Servers = nil
		for _, h := range hosts {
			b.Servers = append(b.Servers, lbconf.Server{Name: h.id, Address: h.ip, Port: d.Port})
		}
		return lbconf.RenderBackend(b)
	case RenderNginxServers:
		var ups []nginxconf.Upstream
		for _, h := range hosts {
			ups = append(ups, nginxconf.Upstream{Name: h.id, Address: h.ip, Port: d.Port})
		}
		return nginxconf.RenderServers(ups)
	case RenderKeepalived:
		if d.Keepalived == nil {
			return "", errors.New("no keepalived configuration in the configuration")
		}
		k := *d.Keepalived
		k.SourceIP, k.RouterID, k.PeerIP, k.PeerIPs = a.ip, a.id, "", nil
		// Distinct priorities: with equal ones, BACKUPs that lose their
		// MASTER time out together, both become MASTER and both take the
		// address (one move too many); a higher priority's shorter wait
		// lets one win first. The last byte of the node's own address
		// keeps them distinct within a subnet and stable: a change of the
		// pair does not rewrite them (each rewrite reloads keepalived,
		// which restarts a BACKUP's wait for the MASTER).
		if self, err := netip.ParseAddr(a.ip); err == nil && self.Is4() {
			k.Priority += int(self.As4()[3]) % 100
		}
		for _, h := range hosts {
			k.PeerIPs = append(k.PeerIPs, h.ip)
		}
		return lbconf.RenderKeepalived(k)
	}
	return "", fmt.Errorf("unknown render %q", d.Render)
}

// joinHosts lists hosts as "i-1 10.0.0.1, i-2 10.0.0.2".
func joinHosts(hosts []host) string {
	s := make([]string, len(hosts))
	for i, h := range hosts {
		s[i] = h.String()
	}
	return strings.Join(s, ", ")
}

// writeAtomic replaces path with text: a temporary file in the same
// directory, synced, then renamed over path, so that a reader sees the old
// file or the new one, never a part.
func writeAtomic(path, text string, mode fs.FileMode) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// restore puts back a file's previous content, or removes the file when
// there was none.
func restore(path string, old []byte, existed bool, mode fs.FileMode) error {
	if !existed {
		return os.Remove(path)
	}
	return writeAtomic(path, string(old), mode)
}
