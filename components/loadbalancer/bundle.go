package loadbalancer

import (
	"fmt"
	"github.com/foobar/webstack/components/monitoring/signals"

	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/awsapi"
	"github.com/foobar/webstack/internal/hostagent"
)

// BundleArgs is what the nodes' bundle depends on.
type BundleArgs struct {
	// Names are the pair's group's.
	Names        group.Names
	Region       string
	AllocationID string // the Elastic IP
	Address      string // its public address
	SecretArn    string // stats and VRRP passwords
	// CertificateSecret (name or ARN) holds the site's PEM; "" = HTTP only.
	CertificateSecret string
	SiteName          string
	// WebGroup and WebPort are the web servers HAProxy discovers.
	WebGroup string
	WebPort  int
	// AgentKey and AgentSHA256 are the agent's release.
	AgentKey, AgentSHA256 string
}

// Platform is where a node keeps its files and how its agent controls
// HAProxy and keepalived: AWSPlatform on the hosts; the sandbox has its
// own. Everything else the agent does is the same on both.
type Platform struct {
	// Paths are HAProxy's and keepalived's.
	Paths lbconf.Paths
	// BackendFile is the web servers' backend the agent writes; HAProxy
	// checks (with it), reloads gracefully and stops with these commands.
	BackendFile                              string
	HAProxyCheck, HAProxyReload, HAProxyStop []string
	// KeepalivedFile is keepalived.conf, which the agent writes (its
	// peers); the commands check it, reload keepalived if it runs, start
	// and stop it.
	KeepalivedFile                                                     string
	KeepalivedCheck, KeepalivedReload, KeepalivedStart, KeepalivedStop []string
	// KeepAddress runs every round while the node is in service: if
	// keepalived is MASTER here and the address is elsewhere, it takes it
	// (lbconf.KeepAddressScript).
	KeepAddress []string
	host.AgentPaths
}

// AWSPlatform is an Amazon Linux 2023 node.
func AWSPlatform(tls bool) Platform {
	paths := lbconf.Paths{
		// HAProxy writes its log lines to its stdout, which systemd
		// appends to signals.HAProxyAccessLog (haproxyDropIn): the
		// CloudWatch agent ships that file, and no access line goes
		// through the journal's rate limit.
		RuntimeDir: "/run/haproxy", Log: "stdout", User: "haproxy", Group: "haproxy", MaxConn: 20000,
		LocalInclude: localInclude, CheckScript: checkScript, NotifyMaster: takeover,
	}
	if tls {
		paths.CertFile = certFile
	}
	return Platform{
		Paths: paths, BackendFile: backendFile,
		HAProxyCheck: []string{haproxyCheck}, HAProxyReload: []string{"systemctl", "reload-or-restart", "haproxy"},
		HAProxyStop:    []string{"systemctl", "stop", "haproxy"},
		KeepalivedFile: keepalivedCfg, KeepalivedCheck: []string{"keepalived", "-t", "-f", keepalivedCfg},
		KeepalivedReload: []string{"systemctl", "try-reload-or-restart", "keepalived"},
		KeepalivedStart:  []string{"systemctl", "enable", "--now", "keepalived"},
		KeepalivedStop:   []string{"systemctl", "stop", "keepalived"},
		KeepAddress:      []string{keepAddress},
		AgentPaths:       host.AWSAgentPaths,
	}
}

// AgentConfig is what the nodes' agents do: keep HAProxy's backend (the web
// servers in service) and keepalived's peers (the pair's other nodes,
// also while they launch) current; complete the launch hook once HAProxy
// answers its monitor with them, and only then start keepalived; mark the
// node unhealthy when HAProxy stops answering; and on termination stop
// keepalived first (the peer takes the address), wait until the clients'
// connections are done, then stop HAProxy. Every round, a MASTER without
// the address takes it (Platform.KeepAddress).
func AgentConfig(a BundleArgs, t group.Timing, p Platform) hostagent.Config {
	monitor := "http://" + lbconf.MonitorAddr + lbconf.MonitorPath
	clientPort := lbconf.HTTPPort
	if p.Paths.CertFile != "" {
		clientPort = lbconf.HTTPSPort
	}
	// The agent fills in this node as the source and the others as peers.
	ka := lbconf.ClusterKeepalived(lbconf.Node{Priority: 100}, "", "", p.Paths)
	backend := lbconf.ClusterBackend(nil, a.SiteName)
	ready := t.Ready(p.Applied, monitor)
	ready.Then = [][]string{p.KeepalivedStart}
	c := hostagent.Config{
		Region: a.Region, Tier: "lb", Group: a.Names.Group, LaunchHook: a.Names.LaunchHook, TerminateHook: a.Names.TerminateHook,
		Interval: hostagent.Duration(t.Interval), StateDir: p.StateDir,
		Ready:  ready,
		Health: t.Health(monitor),
		Drain:  t.Drain(clientPort, [][]string{p.KeepalivedStop}, [][]string{p.HAProxyStop}),
		Discover: []hostagent.Discovery{
			{
				Name: "web servers", Group: a.WebGroup, Port: a.WebPort,
				Render: hostagent.RenderHAProxyBackend, HAProxy: &backend,
				Path: p.BackendFile, Check: p.HAProxyCheck, Reload: p.HAProxyReload,
			},
			{
				Name: "load-balancer peers", Group: a.Names.Group, Port: lbconf.HTTPPort, ExcludeSelf: true,
				// Every node that may run keepalived is a peer: one joining
				// the pair from its launch on, so that it hears the MASTER
				// before it starts keepalived; one leaving or marked
				// unhealthy until it is gone, so that the peer hears its
				// priority-0 advert and takes the address at once, instead
				// of waiting out the master down interval.
				States: []string{
					awsapi.Pending, awsapi.PendingWait, awsapi.PendingProceed, awsapi.InService,
					awsapi.Terminating, awsapi.TerminatingWait, awsapi.TerminatingProceed,
				},
				Unhealthy:  true,
				Render:     hostagent.RenderKeepalived,
				Keepalived: &ka,
				Path:       p.KeepalivedFile, Check: p.KeepalivedCheck, Reload: p.KeepalivedReload,
			},
		},
	}
	if len(p.KeepAddress) > 0 {
		c.Every = [][]string{p.KeepAddress}
	}
	return c
}

// Bundle is everything a node runs.
func Bundle(a BundleArgs) (host.Bundle, error) {
	p := AWSPlatform(a.CertificateSecret != "")
	haproxy, err := lbconf.RenderHAProxy(lbconf.ClusterHAProxy(nil, a.SiteName, p.Paths))
	if err != nil {
		return host.Bundle{}, err
	}
	agent := AgentConfig(a, group.AWSTiming, p)
	noServers, err := lbconf.RenderBackend(*agent.Discover[0].HAProxy)
	if err != nil {
		return host.Bundle{}, err
	}
	agentJSON, err := agent.JSON()
	if err != nil {
		return host.Bundle{}, err
	}
	marker := lbconf.MarkerAddr(agent.Discover[1].Keepalived.VirtualRouterID)
	env := fmt.Sprintf("AWS_REGION=%s\nWEBSTACK_EIP_ALLOCATION_ID=%s\nWEBSTACK_EIP_ADDRESS=%s\nWEBSTACK_LB_SECRET_ARN=%s\nWEBSTACK_CERT_SECRET_ID=%s\n",
		a.Region, a.AllocationID, a.Address, a.SecretArn, a.CertificateSecret)
	files := []host.File{
		{Path: envFile, Content: env, Owner: "root:root"},
		{Path: secretsScript, Content: secretsScriptText, Mode: "0755", Owner: "root:root"},
		{Path: checkScript, Content: lbconf.CheckScript(lbconf.MonitorAddr, lbconf.MonitorPath), Mode: "0755", Owner: "root:root"},
		{Path: takeover, Content: lbconf.TakeoverScript(envFile, marker, "/run/webstack-lb-takeover.lock"), Mode: "0755", Owner: "root:root"},
		{Path: keepAddress, Content: lbconf.KeepAddressScript(envFile, takeover, marker, "/run/webstack-lb-keep-address", signals.VRRPStateLog), Mode: "0755", Owner: "root:root"},
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
// writes), its log lines appended to the file the CloudWatch agent ships.
// Every command is set here, not taken from the package's unit.
const haproxyDropIn = `[Service]
Type=notify
RuntimeDirectory=haproxy
StandardOutput=append:` + signals.HAProxyAccessLog + `
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
