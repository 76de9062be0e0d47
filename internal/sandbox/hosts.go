package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/internal/asg"
	"github.com/foobar/webstack/internal/awsapi"
)

// Fault is what goes wrong with the next hosts a group launches.
type Fault string

const (
	// NoFault: hosts launch as they should.
	NoFault Fault = ""
	// NoService: the host's service never starts, so it never gets ready.
	NoService Fault = "no-service"
)

// SetFault makes a tier's next launches go wrong (NoFault to stop).
func (s *Sandbox) SetFault(tier string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[tier] = f
}

// GroupName is a tier's group in a sandbox: <name>-web.
func GroupName(c Config, tier string) string { return c.withDefaults().Name + "-" + tier }

// groupNames are a tier's group and hooks.
func (s *Sandbox) groupNames(tier string) group.Names {
	g := GroupName(s.Config, tier)
	return group.Names{Group: g, LaunchHook: g + "-launch", TerminateHook: g + "-terminate"}
}

// groupConfig is a tier's group, as the components configure it on AWS:
// both lifecycle hooks (launch abandons by default), launch-first
// replacement, refreshes within 100 % and 200 % (the load balancers'
// 150 %: one at a time), with the sandbox's short timeouts.
func (s *Sandbox) groupConfig(tier string) asg.GroupConfig {
	n := s.groupNames(tier)
	desired, minSize, maxSize, maxHealthy := 2, 1, 9, 200
	switch tier {
	case "web":
		desired = s.Config.Web
	case "app":
		desired = s.Config.App
	case "lb":
		// The pair, as on AWS: exactly two, a third joins during a refresh.
		minSize, maxSize, maxHealthy = 2, 2, 150
	}
	return asg.GroupConfig{
		Name: n.Group, Role: n.Group + "-role", Zones: Zones, Addresses: s.Topology.Addresses[tier],
		MinSize: minSize, MaxSize: maxSize, DesiredCapacity: desired, Template: "1",
		LaunchHook: n.LaunchHook, LaunchHookTimeout: launchHookTimeout, LaunchHookDefaultResult: awsapi.Abandon,
		TerminateHook: n.TerminateHook, TerminateHookTimeout: terminateHookTimeout, TerminateHookDefaultResult: awsapi.Continue,
		HealthCheckGracePeriod: healthCheckGrace, InstanceWarmup: instanceWarmup,
		MinHealthyPercentage: 100, MaxHealthyPercentage: maxHealthy,
	}
}

// tierOf is the tier of a group of this sandbox.
func (s *Sandbox) tierOf(groupName string) string {
	for _, t := range []string{"lb", "web", "app"} {
		if GroupName(s.Config, t) == groupName {
			return t
		}
	}
	return ""
}

// Launch is a group's new instance: a namespace with its address, the
// tier's files, its service and its agent. The agent completes the launch
// hook once the host is ready, as on AWS. (asg.Launcher)
func (s *Sandbox) Launch(ctx context.Context, h asg.Host) error {
	tier := s.tierOf(h.Group)
	s.mu.Lock()
	fault := s.faults[tier]
	s.names[tier]++
	name := fmt.Sprintf("%s%d", tier, s.names[tier])
	host := &Host{Fault: fault,
		Name: name, Tier: tier, IP: h.PrivateIP, Zone: h.AvailabilityZone, InstanceID: h.InstanceID,
		Namespace: s.Config.nsPrefix() + name, Link: s.Config.linkPrefix() + name,
	}
	s.hosts[h.InstanceID] = host
	s.mu.Unlock()

	if err := addHost(s.Topology, *host); err != nil {
		return err
	}
	var service []string
	var err error
	switch tier {
	case "lb":
		service, err = s.renderLoadBalancer(*host)
	case "web":
		service, err = s.renderWebServer(*host)
	case "app":
		service, err = s.renderAppServer(*host)
	default:
		return fmt.Errorf("sandbox: instance %s of unknown group %s", h.InstanceID, h.Group)
	}
	if err != nil {
		return err
	}
	if fault != NoService {
		for _, id := range service {
			if err := s.Start(ctx, id); err != nil {
				return err
			}
		}
	} else {
		s.Config.Logf("%s: %s launched without its service (fault %q): it never gets ready", tier, name, fault)
	}
	// The bundle is applied: its files are in place, its service started.
	if err := write(s.agentPaths(*host).Applied, "sandbox\n", 0o644); err != nil {
		return err
	}
	return s.Start(ctx, name+"/agent")
}

// faulty reports whether a host was launched with a fault.
func (s *Sandbox) faulty(h Host) bool { return h.Fault != NoFault }

// Terminate removes a group's instance: its daemons, its namespace; its
// directory is kept under gone/ for its logs. (asg.Launcher)
func (s *Sandbox) Terminate(ctx context.Context, h asg.Host) error {
	s.mu.Lock()
	host, ok := s.hosts[h.InstanceID]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	for _, id := range s.IDs() {
		if len(id) > len(host.Name) && id[:len(host.Name)+1] == host.Name+"/" {
			s.Stop(id)
		}
	}
	// Whatever a daemon started (keepalived) goes with the namespace.
	for _, pid := range nsPIDs([]string{host.NS()}) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	err := removeHost(*host)
	gone := filepath.Join(s.Config.StateDir, "gone")
	os.MkdirAll(gone, 0o755)
	os.Rename(s.HostDir(host.Name), filepath.Join(gone, host.Name))
	s.mu.Lock()
	delete(s.hosts, h.InstanceID)
	for id := range s.daemons {
		if len(id) > len(host.Name) && id[:len(host.Name)+1] == host.Name+"/" {
			delete(s.daemons, id)
		}
	}
	s.mu.Unlock()
	return err
}

// Alive reports whether an instance's host still runs: false once
// KillHost killed it, as a failed EC2 status check. (asg.Launcher)
func (s *Sandbox) Alive(h asg.Host) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.dead[h.InstanceID]
}

// KillHost kills every process of a group host at once, its agent too, as
// if the instance died: the group replaces it once its status check fails.
func (s *Sandbox) KillHost(name string) error {
	if h, ok := s.Host(name); ok {
		for _, pid := range nsPIDs([]string{h.NS()}) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		s.mu.Lock()
		s.dead[h.InstanceID] = true
		s.mu.Unlock()
		return nil
	}
	return fmt.Errorf("%w: %s", errNoHost, name)
}

// Scale sets a tier's desired capacity through the Auto Scaling API and
// waits until the group is stable.
func (s *Sandbox) Scale(ctx context.Context, tier string, desired int) error {
	switch tier {
	case "web", "app":
	case "lb":
		return fmt.Errorf("sandbox: the load balancers are a pair (one address, VRRP between two): only web and app scale")
	default:
		return fmt.Errorf("sandbox: no tier %q: web or app scale", tier)
	}
	if desired < 1 || desired > 9 {
		return fmt.Errorf("sandbox: %s servers: %d; between 1 and 9", tier, desired)
	}
	if err := s.Cloud.SetDesiredCapacity(ctx, GroupName(s.Config, tier), desired); err != nil {
		return err
	}
	return s.WaitStable(ctx, tier, 2*time.Minute)
}

// Roll replaces every host of a tier as a launch-template change does on
// AWS: a new template version, then an instance refresh (the group's
// minimum and maximum healthy percentages), and waits until it succeeded
// and the group is stable.
func (s *Sandbox) Roll(ctx context.Context, tier string) error {
	if s.tierOf(GroupName(s.Config, tier)) == "" {
		return fmt.Errorf("sandbox: no tier %q: lb, web or app roll", tier)
	}
	g := GroupName(s.Config, tier)
	cfg := s.groupConfig(tier)
	s.mu.Lock()
	s.names["template-"+tier]++
	version := fmt.Sprint(1 + s.names["template-"+tier])
	s.mu.Unlock()
	if err := s.Cloud.SetTemplate(g, version); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	id, err := s.Cloud.StartInstanceRefresh(ctx, g, cfg.MinHealthyPercentage, cfg.MaxHealthyPercentage)
	if err != nil {
		return err
	}
	for {
		refreshes, err := s.Cloud.DescribeInstanceRefreshes(ctx, g)
		if err != nil {
			return err
		}
		for _, r := range refreshes {
			if r.ID == id && r.Status == awsapi.RefreshSuccessful {
				return s.WaitStable(ctx, tier, time.Minute)
			}
			if r.ID == id && (r.Status == awsapi.RefreshFailed || r.Status == awsapi.RefreshCancelled) {
				return fmt.Errorf("sandbox: refresh of %s %s", g, r.Status)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
