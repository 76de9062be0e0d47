package hostagent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// lbConfigJSON is a load balancer's configuration as a bundle would hold
// it: HAProxy's backend from the web servers, keepalived's peers from its
// own group.
const lbConfigJSON = `{
  "region": "eu-west-1",
  "tier": "lb",
  "group": "webstack-prod-lb",
  "launchHook": "launch",
  "terminateHook": "terminate",
  "interval": "2s",
  "stateDir": "/var/lib/webstack/agent",
  "ready": {"marker": "/var/lib/webstack/applied", "url": "http://127.0.0.1:8405/lbhealth", "timeout": "5m",
            "then": [["systemctl", "start", "keepalived"]]},
  "health": {"url": "http://127.0.0.1:8405/lbhealth", "failures": 3, "timeout": "2s"},
  "drain": {"before": [["systemctl", "stop", "keepalived"]], "port": 80, "quiet": "6s", "timeout": "2m",
            "after": [["systemctl", "stop", "haproxy"]]},
  "discover": [
    {"name": "web servers", "group": "webstack-prod-web", "port": 80, "render": "haproxy-backend",
     "haproxy": {"Name": "be_web", "HealthPath": "/healthz", "HealthHost": "www.foobar.com"},
     "path": "/etc/haproxy/backend.cfg",
     "check": ["/usr/sbin/haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg", "-f", "/etc/haproxy/backend.cfg"],
     "reload": ["systemctl", "reload", "haproxy"]},
    {"name": "load balancers", "group": "webstack-prod-lb", "port": 112, "states": ["Pending:Wait", "InService"],
     "excludeSelf": true, "render": "keepalived",
     "keepalived": {"Priority": 100, "VirtualRouterID": 51, "AdvertInt": 1, "LocalInclude": "/etc/keepalived/local.conf",
                    "CheckScript": "/usr/local/libexec/webstack/lb-check", "CheckInterval": 1, "CheckFall": 2, "CheckRise": 2,
                    "NotifyMaster": "/usr/local/libexec/webstack/lb-takeover", "ScriptUser": "root"},
     "path": "/etc/keepalived/keepalived.conf",
     "check": ["/usr/sbin/keepalived", "-t", "-f", "/etc/keepalived/keepalived.conf"],
     "reload": ["systemctl", "reload", "keepalived"]}
  ]
}`

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(path, []byte(lbConfigJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval.D() != 2*time.Second || c.Drain.Quiet.D() != 6*time.Second || len(c.Discover) != 2 ||
		c.Discover[0].HAProxy.Name != "be_web" || c.Discover[1].Keepalived.Priority != 100 {
		t.Errorf("loaded %+v", c)
	}
	// What a component marshals, the agent reads back.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back, c)
	}
}

func TestValidate(t *testing.T) {
	var base Config
	if err := json.Unmarshal([]byte(lbConfigJSON), &base); err != nil {
		t.Fatal(err)
	}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"bad backend", func(c *Config) { c.Discover[0].HAProxy.Name = "" }, `discover[0].haproxy: lbconf: Backend.Name ""`},
		{"bad keepalived template", func(c *Config) { c.Discover[1].Keepalived.CheckScript = "lb-check" }, `discover[1].keepalived: lbconf: Keepalived.CheckScript "lb-check"`},
		{"no keepalived template", func(c *Config) { c.Discover[1].Keepalived = nil }, `discover[1].render: "keepalived"`},
		{"unknown render", func(c *Config) { c.Discover[0].Render = "nginx" }, `discover[0].render: "nginx"`},
		{"same path twice", func(c *Config) { c.Discover[1].Path = "/etc/haproxy/../haproxy/backend.cfg" }, "discover[1].path"},
		{"relative path", func(c *Config) { c.Discover[0].Path = "backend.cfg" }, `discover[0].path: "backend.cfg": must be absolute`},
		{"unknown state", func(c *Config) { c.Discover[1].States = []string{"Inservice"} }, `discover[1].states: "Inservice"`},
		{"no check", func(c *Config) { c.Discover[0].Check = nil }, "discover[0]: needs"},
		{"empty command", func(c *Config) { c.Drain.After = [][]string{{}} }, "drain.after[0]: is an empty command"},
		{"no port", func(c *Config) { c.Drain.Port = 0 }, "drain: needs"},
		{"no failures", func(c *Config) { c.Health.Failures = 0 }, "health: needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			json.Unmarshal([]byte(lbConfigJSON), &c)
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	err := Config{}.Validate()
	for _, field := range []string{"group, launchHook, terminateHook", "interval", "stateDir", "ready", "health", "drain"} {
		if err == nil || !strings.Contains(err.Error(), field+": ") {
			t.Errorf("the zero Config: error does not name %s: %v", field, err)
		}
	}
}
