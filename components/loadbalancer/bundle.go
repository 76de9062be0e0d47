package loadbalancer

import (
	"fmt"
	"time"

	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/hostagent"
)

// BundleArgs is what the nodes' bundle depends on.
type BundleArgs struct {
	// Names are the pair's group's.
	Names        group.Names
	Region       string
	AllocationID string // the Elastic IP
	SecretArn    string // stats and VRRP passwords
	// CertificateSecret (name or ARN) holds the site's PEM; "" = HTTP only.
	CertificateSecret string
	SiteName          string
	// WebGroup and WebPort are the web servers HAProxy discovers.
	WebGroup      string
	WebPort       int
	AgentInterval time.Duration
	// AgentKey and AgentSHA256 are the agent's release.
	AgentKey, AgentSHA256 string
}

// AWSPaths is where an AWS node keeps its files.
func AWSPaths(tls bool) lbconf.Paths {
	p := lbconf.Paths{
		RuntimeDir: "/run/haproxy", Log: "/dev/log", User: "haproxy", Group: "haproxy", MaxConn: 20000,
		LocalInclude: localInclude, CheckScript: checkScript, NotifyMaster: takeover,
	}
	if tls {
		p.CertFile = certFile
	}
	return p
}

// AgentConfig is what the nodes' agents do: keep HAProxy's backend (the web
// servers in service) and keepalived's peers (the pair's other nodes,
// also while they launch) current; complete the launch hook once HAProxy
// answers its monitor with them, and only then start keepalived; mark the
// node unhealthy when HAProxy stops answering; and on termination stop
// keepalived first (the peer takes the address), wait until the clients'
// connections are done, then stop HAProxy.
func AgentConfig(a BundleArgs, paths lbconf.Paths) hostagent.Config {
	monitor := "http://" + lbconf.MonitorAddr + lbconf.MonitorPath
	clientPort := lbconf.HTTPPort
	if paths.CertFile != "" {
		clientPort = lbconf.HTTPSPort
	}
	// The agent fills in this node as the source and the others as peers.
	ka := lbconf.ClusterKeepalived(lbconf.Node{Priority: 100}, "", "", paths)
	ka.RouterID = ""
	return hostagent.Config{
		Region: a.Region, Tier: "lb", Group: a.Names.Group, LaunchHook: a.Names.LaunchHook, TerminateHook: a.Names.TerminateHook,
		Interval: hostagent.Duration(a.AgentInterval), StateDir: host.StateDir + "/agent",
		Ready: hostagent.Ready{
			Marker: host.AppliedMarker, URL: monitor, Timeout: hostagent.Duration(group.LaunchHookTimeout * time.Second / 2),
			Then: [][]string{{"systemctl", "enable", "--now", "keepalived"}},
		},
		Health: hostagent.Health{URL: monitor, Failures: 3, Timeout: hostagent.Duration(2 * time.Second)},
		Drain: hostagent.Drain{
			Before: [][]string{{"systemctl", "stop", "keepalived"}},
			Port:   clientPort, Quiet: hostagent.Duration(3 * a.AgentInterval), Timeout: hostagent.Duration(60 * time.Second),
			After: [][]string{{"systemctl", "stop", "haproxy"}},
		},
		Discover: []hostagent.Discovery{
			{
				Name: "web servers", Group: a.WebGroup, Port: a.WebPort,
				Render:  hostagent.RenderHAProxyBackend,
				HAProxy: &lbconf.Backend{Name: lbconf.WebBackend, HealthPath: lbconf.HealthPath, HealthHost: a.SiteName},
				Path:    backendFile, Check: []string{haproxyCheck}, Reload: []string{"systemctl", "reload-or-restart", "haproxy"},
			},
			{
				Name: "load-balancer peers", Group: a.Names.Group, Port: lbconf.HTTPPort, ExcludeSelf: true,
				// A node joining the pair is a peer from its launch on, so
				// that it hears the MASTER before it starts keepalived.
				States:     []string{"Pending", "Pending:Wait", "Pending:Proceed", "InService"},
				Render:     hostagent.RenderKeepalived,
				Keepalived: &ka,
				Path:       keepalivedCfg, Check: []string{"keepalived", "-t", "-f", keepalivedCfg},
				Reload: []string{"systemctl", "try-reload-or-restart", "keepalived"},
			},
		},
	}
}

// Bundle is everything a node runs.
func Bundle(a BundleArgs) (host.Bundle, error) {
	paths := AWSPaths(a.CertificateSecret != "")
	haproxy, err := lbconf.RenderHAProxy(lbconf.ClusterHAProxy(nil, a.SiteName, paths))
	if err != nil {
		return host.Bundle{}, err
	}
	agent := AgentConfig(a, paths)
	noServers, err := lbconf.RenderBackend(*agent.Discover[0].HAProxy)
	if err != nil {
		return host.Bundle{}, err
	}
	agentJSON, err := agent.JSON()
	if err != nil {
		return host.Bundle{}, err
	}
	env := fmt.Sprintf("AWS_REGION=%s\nWEBSTACK_EIP_ALLOCATION_ID=%s\nWEBSTACK_LB_SECRET_ARN=%s\nWEBSTACK_CERT_SECRET_ID=%s\n",
		a.Region, a.AllocationID, a.SecretArn, a.CertificateSecret)
	files := []host.File{
		{Path: envFile, Content: env, Owner: "root:root"},
		{Path: secretsScript, Content: secretsScriptText, Mode: "0755", Owner: "root:root"},
		{Path: checkScript, Content: lbconf.CheckScript(lbconf.MonitorAddr, lbconf.MonitorPath), Mode: "0755", Owner: "root:root"},
		{Path: takeover, Content: lbconf.TakeoverScript(envFile), Mode: "0755", Owner: "root:root"},
		{Path: haproxyCheck, Content: haproxyCheckText, Mode: "0755", Owner: "root:root"},
		{Path: haproxyConfig, Content: haproxy, Owner: "root:root"},
		// The agent rewrites it as web servers come and go.
		{Path: backendFile, Content: noServers, Owner: "root:root", IfMissing: true},
		{Path: "/etc/systemd/system/haproxy.service.d/webstack.conf", Content: haproxyDropIn, Owner: "root:root"},
	}
	return host.Bundle{
		Name:  "lb",
		Files: append(files, host.AgentFiles(agentJSON)...),
		Check: []string{secretsScript, haproxyCheck},
		Activate: append([]string{
			"systemctl daemon-reload",
			"systemctl enable haproxy",
			"systemctl reload-or-restart haproxy",
		}, host.AgentActivate(a.AgentKey, a.AgentSHA256)...),
		Verify: []string{host.WaitHealthy + " http://" + lbconf.MonitorAddr + lbconf.MonitorPath},
	}, nil
}

// haproxyCheckText checks the whole HAProxy configuration, the main file
// and the backend the agent writes, with the stats password HAProxy needs.
const haproxyCheckText = `#!/bin/bash
# haproxy-check: haproxy -c of the main file and the agent's backend.
set -euo pipefail
set -a
. ` + secretsEnv + `
set +a
exec haproxy -c -q -f ` + haproxyConfig + ` -f /etc/haproxy/conf.d
`

// haproxyDropIn runs HAProxy in master-worker mode (graceful reloads: the
// old worker finishes its requests) with the agent's backend, its runtime
// directory and the stats password (from the root-only file lb-secrets
// writes). Every command is set here, not taken from the package's unit.
const haproxyDropIn = `[Service]
Type=notify
RuntimeDirectory=haproxy
EnvironmentFile=` + secretsEnv + `
ExecStartPre=
ExecStartPre=/usr/sbin/haproxy -c -q -f ` + haproxyConfig + ` -f /etc/haproxy/conf.d
ExecStart=
ExecStart=/usr/sbin/haproxy -Ws -f ` + haproxyConfig + ` -f /etc/haproxy/conf.d -p /run/haproxy.pid
ExecReload=
ExecReload=/usr/sbin/haproxy -c -q -f ` + haproxyConfig + ` -f /etc/haproxy/conf.d
ExecReload=/bin/kill -USR2 $MAINPID
KillMode=mixed
`

// secretsScriptText writes the node's secrets from Secrets Manager into
// root-only files, never printing them: HAProxy's stats password, keepalived's
// interface and VRRP password, and the site's certificate when configured.
const secretsScriptText = `#!/bin/bash
# lb-secrets: writes this load balancer's secrets into root-only files.
set -euo pipefail
. ` + envFile + `
umask 077
iface=$(ip -o route show default | awk '{print $5; exit}')
aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$WEBSTACK_LB_SECRET_ARN" \
	--query SecretString --output text | python3 -c '
import json, os, sys
secret = json.load(sys.stdin)
def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
write("` + secretsEnv + `", "` + lbconf.StatsPasswordEnv + `=%s\n" % secret["statsPassword"])
write("` + localInclude + `", "$IFACE=%s\n$AUTH_PASS=%s\n" % (sys.argv[1], secret["vrrpPassword"]))
' "$iface"
if [ -n "${WEBSTACK_CERT_SECRET_ID:-}" ]; then
	install -d -m 0700 "$(dirname ` + certFile + `)"
	aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$WEBSTACK_CERT_SECRET_ID" \
		--query SecretString --output text >` + certFile + `.tmp
	mv -f ` + certFile + `.tmp ` + certFile + `
fi
`
