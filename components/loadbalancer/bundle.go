package loadbalancer

import (
	"fmt"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer/lbconf"
)

// BundleArgs is what one node's bundle depends on.
type BundleArgs struct {
	Node         string // lb1 or lb2
	Priority     int
	SelfIP       string
	PeerIP       string
	WebServers   []lbconf.Server
	SiteName     string
	Region       string
	AllocationID string // the Elastic IP
	SecretArn    string // stats and VRRP passwords
	// CertificateSecret (name or ARN) holds the site's PEM; "" = HTTP only.
	CertificateSecret string
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

// Bundle is everything one node runs.
func Bundle(a BundleArgs) (host.Bundle, error) {
	paths := AWSPaths(a.CertificateSecret != "")
	haproxy, err := lbconf.RenderHAProxy(lbconf.ClusterHAProxy(a.WebServers, a.SiteName, paths))
	if err != nil {
		return host.Bundle{}, fmt.Errorf("%s: %w", a.Node, err)
	}
	keepalived, err := lbconf.RenderKeepalived(lbconf.ClusterKeepalived(lbconf.Node{Name: a.Node, Priority: a.Priority}, a.SelfIP, a.PeerIP, paths))
	if err != nil {
		return host.Bundle{}, fmt.Errorf("%s: %w", a.Node, err)
	}
	env := fmt.Sprintf("AWS_REGION=%s\nWEBSTACK_EIP_ALLOCATION_ID=%s\nWEBSTACK_LB_SECRET_ARN=%s\nWEBSTACK_CERT_SECRET_ID=%s\n",
		a.Region, a.AllocationID, a.SecretArn, a.CertificateSecret)
	return host.Bundle{
		Name: a.Node,
		Files: []host.File{
			{Path: envFile, Content: env, Owner: "root:root"},
			{Path: secretsScript, Content: secretsScriptText, Mode: "0755", Owner: "root:root"},
			{Path: checkScript, Content: lbconf.CheckScript(lbconf.MonitorAddr, lbconf.MonitorPath), Mode: "0755", Owner: "root:root"},
			{Path: takeover, Content: lbconf.TakeoverScript(envFile), Mode: "0755", Owner: "root:root"},
			{Path: haproxyConfig, Content: haproxy, Owner: "root:root"},
			{Path: "/etc/systemd/system/haproxy.service.d/webstack.conf", Content: haproxyDropIn, Owner: "root:root"},
			{Path: "/etc/keepalived/keepalived.conf", Content: keepalived, Owner: "root:root"},
		},
		Check: []string{
			secretsScript,
			fmt.Sprintf("(set -a; . %s; haproxy -c -q -f %s)", secretsEnv, haproxyConfig),
			"keepalived -t -f /etc/keepalived/keepalived.conf",
		},
		Activate: []string{
			"systemctl daemon-reload",
			"systemctl enable haproxy keepalived",
			"systemctl reload-or-restart haproxy",
			"systemctl reload-or-restart keepalived",
		},
	}, nil
}

// haproxyDropIn gives HAProxy its runtime directory and the stats password
// (from the root-only file lb-secrets writes).
const haproxyDropIn = `[Service]
RuntimeDirectory=haproxy
EnvironmentFile=` + secretsEnv + `
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
