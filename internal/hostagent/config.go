// Package hostagent is webstack-agent (agent/), the program every host of
// an Auto Scaling group runs beside its service. One loop, every
// Interval, does four jobs, the same on AWS and in the sandbox (which
// points the agent at its fake AWS, internal/fakeaws):
//
//   - Readiness: while the instance launches, once the bundle is applied
//     (Ready.Marker), every discovery has found its hosts and the host's
//     own service answers Ready.URL, it completes the group's launch
//     lifecycle hook with CONTINUE, and the group puts the host in
//     service. Not ready within Ready.Timeout: ABANDON, and the group
//     replaces it. A host that never becomes ready never receives traffic,
//     because the tier in front discovers only hosts in service.
//   - Discovery: it lists the hosts of the groups it serves in front of
//     (Discover), renders their addresses with the same renderers as the
//     bundles (HAProxy's backend, nginx's upstream servers, keepalived's
//     peers), checks the result with the real program and reloads it
//     gracefully, restoring the previous file if the check fails. An API
//     failure, or an empty list, keeps the last file: discovery never
//     empties a backend.
//   - Health: once in service, it asks Health.URL; after Health.Failures
//     failures in a row it marks its instance Unhealthy, and the group
//     replaces it.
//   - Every: commands run each round while in service (the load
//     balancers' MASTER makes sure it holds the address).
//   - Drain: when the group terminates the instance (its target lifecycle
//     state becomes Terminated), it runs Drain.Before, waits until no
//     connection to Drain.Port has been seen for Drain.Quiet (the tier in
//     front has dropped it from its list and finished its requests),
//     bounded by Drain.Timeout, runs Drain.After and completes the
//     terminate hook.
package hostagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/awsapi"
)

// ConfigPath is where the agent's configuration lives on a host.
const ConfigPath = "/etc/webstack/agent.json"

// Config is the agent's configuration (JSON): the tier's component renders
// it into the host's bundle, the sandbox writes its own with local paths.
type Config struct {
	// Region of the AWS APIs; "" = $AWS_REGION, else the instance's own
	// region (from its availability zone).
	Region string `json:"region"`
	// Tier is lb, web or app; it only names the host in logs.
	Tier string `json:"tier"`
	// Group is this host's own Auto Scaling group, LaunchHook and
	// TerminateHook the names of its lifecycle hooks.
	Group         string `json:"group"`
	LaunchHook    string `json:"launchHook"`
	TerminateHook string `json:"terminateHook"`
	// Interval between two rounds of the loop, e.g. "2s".
	Interval Duration `json:"interval"`
	// StateDir keeps what the agent must remember across restarts: the
	// file launch-hook-completed (StateFile), holding the id of the
	// instance whose launch hook was completed.
	StateDir string `json:"stateDir"`

	Ready    Ready       `json:"ready"`
	Health   Health      `json:"health"`
	Drain    Drain       `json:"drain"`
	Discover []Discovery `json:"discover,omitempty"`
	// Every are commands run every round while the host is in service
	// (its launch hook completed, not terminating), after discovery. A
	// command prints only when it acted, and that output is logged; a
	// failure is logged once, until the command succeeds again. The load
	// balancers use it so that keepalived's MASTER holds the address even
	// after two nodes were MASTER for a moment and the other's takeover
	// ran last.
	Every [][]string `json:"every,omitempty"`
}

// Ready is what must hold before the launch hook is completed.
type Ready struct {
	// Marker is a file that exists once the host's bundle is applied
	// (webstack-sync writes it).
	Marker string `json:"marker"`
	// URL is the host's own service, asked locally; it must answer 200
	// within Health.Timeout.
	URL string `json:"url"`
	// Timeout: a host not ready by then (counted from the agent's start)
	// abandons its launch.
	Timeout Duration `json:"timeout"`
	// Then are commands run once, after the launch hook is completed (the
	// load balancers start keepalived only then, so that a node joins the
	// VRRP pair once its peers know it). An agent restarted on a host whose
	// hook is already completed (StateDir) runs them once more, unless the
	// instance is terminating: they must be idempotent (systemctl start).
	Then [][]string `json:"then,omitempty"`
}

// Health is the check that, failing, marks the instance Unhealthy.
type Health struct {
	URL string `json:"url"`
	// Failures in a row before the instance is marked Unhealthy.
	Failures int `json:"failures"`
	// Timeout of one check.
	Timeout Duration `json:"timeout"`
}

// Drain is how a terminating host leaves.
type Drain struct {
	// Before are commands run first (the load balancers stop keepalived,
	// giving the address to the peer).
	Before [][]string `json:"before,omitempty"`
	// Port is the port the tier in front connects to.
	Port int `json:"port"`
	// Quiet is how long no established connection to Port may be seen
	// before the host counts as drained, counted from Before. The agent
	// looks once per Interval (/proc/net/tcp and tcp6), so Quiet should be
	// a few intervals, long enough for the tier in front to drop the host.
	Quiet Duration `json:"quiet"`
	// Timeout bounds the wait, counted from Before. While it waits, the
	// agent sends a heartbeat to the terminate hook every 30 s.
	Timeout Duration `json:"timeout"`
	// After are commands run once drained (a graceful stop of the service).
	After [][]string `json:"after,omitempty"`
}

// Render kinds of a discovery.
const (
	// RenderHAProxyBackend writes HAProxy's backend section (lbconf.Backend
	// with the discovered servers).
	RenderHAProxyBackend = "haproxy-backend"
	// RenderNginxServers writes the server lines of an nginx upstream
	// block (nginxconf.RenderServers), included by nginx.conf.
	RenderNginxServers = "nginx-servers"
	// RenderKeepalived writes keepalived.conf (lbconf.Keepalived with this
	// host as the source and the discovered hosts as peers).
	RenderKeepalived = "keepalived"
)

// Discovery is one group whose hosts this host must know, and the file
// that lists them.
type Discovery struct {
	// Name says what is discovered, for logs ("web servers").
	Name string `json:"name"`
	// Group is the Auto Scaling group whose hosts are discovered.
	Group string `json:"group"`
	// Port is the port the discovered hosts serve on.
	Port int `json:"port"`
	// States are the lifecycle states a host must be in to be listed
	// (default: InService only).
	States []string `json:"states,omitempty"`
	// Unhealthy lists hosts marked Unhealthy too (by default they are
	// left out): keepalived must keep hearing a sick MASTER, whose
	// priority-0 advert hands the address over at once.
	Unhealthy bool `json:"unhealthy,omitempty"`
	// ExcludeSelf leaves this host out (keepalived's peers; RenderKeepalived
	// always leaves it out).
	ExcludeSelf bool `json:"excludeSelf,omitempty"`
	// Render is how the list is written: RenderHAProxyBackend,
	// RenderNginxServers or RenderKeepalived; the matching field below
	// holds the rest of what the renderer needs. The agent fills in
	// HAProxy.Servers (named by instance id), and Keepalived's SourceIP
	// (this host's private IP), PeerIPs (the list; PeerIP is cleared),
	// RouterID (this host's instance id) and Priority (the template's plus
	// the last byte of this host's address modulo 100: distinct within a
	// subnet, and unchanged when the pair changes).
	Render     string             `json:"render"`
	HAProxy    *lbconf.Backend    `json:"haproxy,omitempty"`
	Keepalived *lbconf.Keepalived `json:"keepalived,omitempty"`
	// Path is the file written.
	Path string `json:"path"`
	// Check is run after Path is written (the real program checking the
	// whole configuration); if it fails, the previous file is put back.
	Check []string `json:"check"`
	// Reload is run after a passing check (a graceful reload).
	Reload []string `json:"reload"`
}

// Duration is a time.Duration written as "2s" in JSON.
type Duration time.Duration

// MarshalJSON writes d as a string such as "2s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "2s" or "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// JSON is the configuration as the agent reads it, indented so that a
// plan shows changes line by line.
func (c Config) JSON() (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	return string(b) + "\n", err
}

// LoadConfig reads and validates a configuration file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.Group == "" || c.LaunchHook == "" || c.TerminateHook == "" {
		bad("group, launchHook, terminateHook", "are required")
	}
	if c.Interval <= 0 {
		bad("interval", "must be positive")
	}
	if c.StateDir == "" {
		bad("stateDir", "is required")
	}
	if c.Ready.URL == "" || c.Ready.Timeout <= 0 {
		bad("ready", "needs a url and a positive timeout")
	}
	if c.Health.URL == "" || c.Health.Failures < 1 || c.Health.Timeout <= 0 {
		bad("health", "needs a url, failures ≥ 1 and a positive timeout")
	}
	if c.Drain.Port < 1 || c.Drain.Port > 65535 || c.Drain.Quiet <= 0 || c.Drain.Timeout <= 0 {
		bad("drain", "needs a port, a positive quiet time and a positive timeout")
	}
	for _, l := range []struct {
		field string
		cmds  [][]string
	}{{"ready.then", c.Ready.Then}, {"drain.before", c.Drain.Before}, {"drain.after", c.Drain.After}, {"every", c.Every}} {
		for i, cmd := range l.cmds {
			if len(cmd) == 0 || cmd[0] == "" {
				bad(fmt.Sprintf("%s[%d]", l.field, i), "is an empty command")
			}
		}
	}
	paths := map[string]bool{}
	for i, d := range c.Discover {
		field := fmt.Sprintf("discover[%d]", i)
		if d.Group == "" || d.Port < 1 || d.Port > 65535 || d.Path == "" || len(d.Check) == 0 || len(d.Reload) == 0 {
			bad(field, "needs a group, a port, a path, a check and a reload command")
		}
		if d.Path != "" && !filepath.IsAbs(d.Path) {
			bad(field+".path", "%q: must be absolute", d.Path)
		}
		if paths[filepath.Clean(d.Path)] {
			bad(field+".path", "%q: written by another discovery too", d.Path)
		}
		paths[filepath.Clean(d.Path)] = true
		for _, s := range d.States {
			if !slices.Contains(lifecycleStates, s) {
				bad(field+".states", "%q: not a lifecycle state (%s)", s, strings.Join(lifecycleStates, ", "))
			}
		}
		// Render with placeholders for what the agent fills in, so that a
		// bad template is reported here rather than on every round.
		switch {
		case d.Render == RenderHAProxyBackend && d.HAProxy != nil:
			b := *d.HAProxy
			b.Servers = nil
			if _, err := lbconf.RenderBackend(b); err != nil {
				bad(field+".haproxy", "%v", err)
			}
		case d.Render == RenderKeepalived && d.Keepalived != nil:
			k := *d.Keepalived
			k.SourceIP, k.PeerIP, k.PeerIPs, k.RouterID = "192.0.2.1", "", []string{"192.0.2.2"}, "i-0"
			if _, err := lbconf.RenderKeepalived(k); err != nil {
				bad(field+".keepalived", "%v", err)
			}
		case d.Render == RenderNginxServers:
		default:
			bad(field+".render", "%q: must be %s (with haproxy), %s or %s (with keepalived)", d.Render, RenderHAProxyBackend, RenderNginxServers, RenderKeepalived)
		}
	}
	return errors.Join(errs...)
}

// lifecycleStates are the states a Discovery may list.
var lifecycleStates = []string{
	awsapi.Pending, awsapi.PendingWait, awsapi.PendingProceed, awsapi.InService,
	awsapi.Terminating, awsapi.TerminatingWait, awsapi.TerminatingProceed,
}
