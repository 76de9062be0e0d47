package lbconf

import (
	"fmt"
	"net/netip"
	"strings"
	"text/template"
)

// Server is one web server behind HAProxy.
type Server struct {
	Name    string // HAProxy server name, unique in the backend, e.g. "web1"
	Address string // IP address (IPv4 or IPv6); host names are not accepted
	Port    int    // e.g. 80
}

// HAProxy is the input of [RenderHAProxy]. Every path is a parameter, so
// instances that differ in RuntimeDir (and CertFile) can share a filesystem.
type HAProxy struct {
	Servers          []Server // the web servers (backend be_web), in this order; at least 1
	HTTPPort         int      // frontend port, e.g. 80
	HTTPSPort        int      // e.g. 443; bound only when CertFile != ""
	CertFile         string   // PEM with cert+chain+key; "" = plain HTTP only, no redirect
	HealthPath       string   // web servers' health check path, e.g. "/healthz"
	HealthHost       string   // Host header of the checks, e.g. "www.foobar.com"
	MonitorAddr      string   // monitor frontend for keepalived, a loopback "IP:port", e.g. "127.0.0.1:8405"
	MonitorPath      string   // monitor-uri, e.g. "/lbhealth"
	StatsAddr        string   // stats listener, a loopback "IP:port", e.g. "127.0.0.1:8404"
	StatsUser        string   // e.g. "admin"
	StatsPasswordEnv string   // NAME of the environment variable holding the stats password; the file holds only "${NAME}"
	// RuntimeDir is the directory of the admin socket (and anything else
	// per-instance), e.g. "/run/haproxy". It must exist when HAProxy starts:
	// HAProxy does not create it, and "haproxy -c" does not notice.
	RuntimeDir  string
	Log         string // "/dev/log" (syslog, AWS), another syslog socket path, or "stdout" (sandbox)
	User, Group string // run as this user/group after binding; "" = omit (sandbox)
	// MaxConn is the global maxconn, e.g. 20000. HAProxy needs about
	// 2 × MaxConn + 32 file descriptors and refuses to start when the hard
	// RLIMIT_NOFILE is lower ("Cannot raise FD limit"; "haproxy -c" does not
	// notice): systemd's default hard limit (524288) is enough, a shell
	// limited to 20000 is not.
	MaxConn int
}

// sunPathMax is the longest socket path Linux accepts (sun_path minus NUL).
const sunPathMax = 107

// validate reports every bad field of h.
func (h HAProxy) validate() error {
	var e errs
	if len(h.Servers) == 0 {
		e.add("HAProxy.Servers", h.Servers, "at least one web server is required")
	}
	names := map[string]bool{}
	endpoints := map[netip.AddrPort]bool{}
	for i, s := range h.Servers {
		field := fmt.Sprintf("HAProxy.Servers[%d]", i)
		e.name(field+".Name", s.Name)
		if names[s.Name] {
			e.add(field+".Name", s.Name, "duplicate server name")
		}
		names[s.Name] = true
		e.port(field+".Port", s.Port)
		a, err := netip.ParseAddr(s.Address)
		if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			e.add(field+".Address", s.Address, "must be a unicast IP address")
			continue
		}
		if s.Port >= 1 && s.Port <= 65535 {
			ap := netip.AddrPortFrom(a, uint16(s.Port))
			if endpoints[ap] {
				e.add(field, ap.String(), "duplicate server address and port")
			}
			endpoints[ap] = true
		}
	}
	e.port("HAProxy.HTTPPort", h.HTTPPort)
	if h.CertFile != "" {
		e.path("HAProxy.CertFile", h.CertFile)
		e.port("HAProxy.HTTPSPort", h.HTTPSPort)
		if h.HTTPSPort == h.HTTPPort {
			e.add("HAProxy.HTTPSPort", h.HTTPSPort, "must differ from HTTPPort")
		}
	} else if h.HTTPSPort != 0 {
		e.port("HAProxy.HTTPSPort", h.HTTPSPort)
	}
	if !uriPath.MatchString(h.HealthPath) {
		e.add("HAProxy.HealthPath", h.HealthPath, `must be a URL path such as "/healthz"`)
	}
	if !hostName.MatchString(h.HealthHost) {
		e.add("HAProxy.HealthHost", h.HealthHost, `must be a host name such as "www.foobar.com"`)
	}
	mon, monOK := e.loopback("HAProxy.MonitorAddr", h.MonitorAddr)
	if !uriPath.MatchString(h.MonitorPath) {
		e.add("HAProxy.MonitorPath", h.MonitorPath, `must be a URL path such as "/lbhealth"`)
	}
	stats, statsOK := e.loopback("HAProxy.StatsAddr", h.StatsAddr)
	// The frontend binds every address, loopback included.
	public := []int{h.HTTPPort}
	if h.CertFile != "" {
		public = append(public, h.HTTPSPort)
	}
	for _, l := range []struct {
		field string
		ap    netip.AddrPort
		ok    bool
	}{{"HAProxy.MonitorAddr", mon, monOK}, {"HAProxy.StatsAddr", stats, statsOK}} {
		for _, p := range public {
			if l.ok && int(l.ap.Port()) == p {
				e.add(l.field, l.ap.String(), fmt.Sprintf("port %d is already bound by frontend fe_www", p))
			}
		}
	}
	if monOK && statsOK && mon == stats {
		e.add("HAProxy.StatsAddr", h.StatsAddr, "must differ from MonitorAddr")
	}
	e.name("HAProxy.StatsUser", h.StatsUser)
	if !envName.MatchString(h.StatsPasswordEnv) {
		e.add("HAProxy.StatsPasswordEnv", h.StatsPasswordEnv, "must be an environment variable name, e.g. HAPROXY_STATS_PASSWORD")
	}
	e.path("HAProxy.RuntimeDir", h.RuntimeDir)
	if sock := h.socket(); len(sock) > sunPathMax {
		e.add("HAProxy.RuntimeDir", h.RuntimeDir, fmt.Sprintf("socket path %s is longer than %d bytes", sock, sunPathMax))
	}
	if h.Log != "stdout" {
		e.path("HAProxy.Log", h.Log)
	}
	if h.User != "" {
		e.name("HAProxy.User", h.User)
	}
	if h.Group != "" {
		e.name("HAProxy.Group", h.Group)
	}
	e.intRange("HAProxy.MaxConn", h.MaxConn, 1, 1_000_000)
	return e.err()
}

// socket is the path of the admin socket.
func (h HAProxy) socket() string { return strings.TrimSuffix(h.RuntimeDir, "/") + "/admin.sock" }

// RenderHAProxy renders haproxy.cfg for HAProxy 2.4 to 2.8 (checked with
// 2.6): frontend fe_www on HTTPPort (and HTTPSPort with TLS, redirecting
// plain HTTP to HTTPS), backend be_web with active health checks, a
// loopback monitor frontend for keepalived's track script and a loopback
// stats page.
//
// Retries: a request that fails to connect, or gets an empty, invalid or
// timed out response, or a 502/503/504, is retried up to 3 times, each time
// on another server when there is one ("option redispatch 1"; plain
// "option redispatch" changes server only on the last retry, so a host
// that drops packets would cost three connect timeouts). So GETs survive
// the death of a web server. L7 retries (all but connection failures) are
// disabled for every method but GET and HEAD, which are safe to replay.
// 500 is deliberately not retried: it is the application's answer, and
// replaying it would multiply the load of a bug.
//
// The stats password is read from the environment variable named by
// StatsPasswordEnv when HAProxy parses the file, and the file refuses to
// load (".alert") when that variable is not set. A set but empty variable
// gives an empty password, which HAProxy accepts: HAProxy cannot test the
// value safely (it is expanded before an ".if" expression is parsed, so a
// password with a quote or a comma breaks the test). Under systemd, set it
// with EnvironmentFile= in a drop-in; it applies to an ExecStartPre
// "haproxy -c" too.
//
// The file has no "daemon" line: production runs it under systemd with
// -Ws, the sandbox in the foreground with -db.
func RenderHAProxy(h HAProxy) (string, error) {
	if err := h.validate(); err != nil {
		return "", err
	}
	v := haproxyView{HAProxy: h, Socket: h.socket(), PasswordRef: "${" + h.StatsPasswordEnv + "}"}
	for _, s := range h.Servers {
		a := netip.MustParseAddr(s.Address)
		v.Endpoints = append(v.Endpoints, endpoint{s.Name, netip.AddrPortFrom(a, uint16(s.Port)).String()})
	}
	if h.Log == "stdout" {
		v.LogLine = "stdout format raw local0"
	} else {
		v.LogLine = h.Log + " local0"
	}
	var b strings.Builder
	if err := haproxyTmpl.Execute(&b, v); err != nil {
		return "", err // unreachable: the template and view are fixed
	}
	return b.String(), nil
}

// endpoint is one "server" line.
type endpoint struct{ Name, Addr string }

// haproxyView is what the template renders.
type haproxyView struct {
	HAProxy
	Socket      string
	LogLine     string
	PasswordRef string // "${NAME}": HAProxy expands it inside double quotes
	Endpoints   []endpoint
}

// Mozilla's "intermediate" TLS settings without the DHE suites, which
// would need a dhparam file.
const (
	tlsCiphers      = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
	tlsCiphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
)

var haproxyTmpl = template.Must(template.New("haproxy.cfg").Parse(`# haproxy.cfg, rendered by github.com/foobar/webstack/components/loadbalancer/lbconf.
# Do not edit: the next deploy overwrites it.

# The stats password comes from the environment; refuse to start without it.
.if defined({{.StatsPasswordEnv}})
.else
    .alert "environment variable {{.StatsPasswordEnv}} (the stats password) is not set"
.endif

global
    log {{.LogLine}}
    maxconn {{.MaxConn}}
    stats socket {{.Socket}} mode 600 level admin
{{- if .User}}
    user {{.User}}
{{- end}}
{{- if .Group}}
    group {{.Group}}
{{- end}}
    ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets
    ssl-default-bind-ciphers ` + tlsCiphers + `
    ssl-default-bind-ciphersuites ` + tlsCiphersuites + `

defaults
    mode http
    log global
    option httplog
    option dontlognull
    option forwardfor
    timeout connect 3s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 2s
    timeout queue 10s
    timeout check 1s
    # Retry failed requests up to 3 times, each on another server. Not a
    # 503: the application says its database is down, which another web
    # server cannot change.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response response-timeout 0rtt-rejected 502 504

frontend fe_www
    bind :{{.HTTPPort}}
{{- if .CertFile}}
    bind :{{.HTTPSPort}} ssl crt {{.CertFile}} alpn h2,http/1.1
    http-request redirect scheme https code 301 unless { ssl_fc }
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    http-request set-header X-Forwarded-Proto http unless { ssl_fc }
    http-response set-header Strict-Transport-Security "max-age=63072000" if { ssl_fc }
{{- else}}
    http-request set-header X-Forwarded-Proto http
{{- end}}
    default_backend be_web

backend be_web
    balance roundrobin
    # Only GET and HEAD are safe to replay.
    http-request disable-l7-retry unless METH_GET
    option httpchk
    http-check send meth GET uri {{.HealthPath}} ver HTTP/1.1 hdr Host {{.HealthHost}}
    http-check expect status 200
    default-server check inter 1s fall 2 rise 2
{{- range .Endpoints}}
    server {{.Name}} {{.Addr}}
{{- end}}

# keepalived's track script asks this; it answers 200 while HAProxy runs.
frontend fe_monitor
    bind {{.MonitorAddr}}
    monitor-uri {{.MonitorPath}}

listen stats
    bind {{.StatsAddr}}
    stats enable
    stats uri /stats
    stats refresh 10s
    stats auth {{.StatsUser}}:"{{.PasswordRef}}"
`))
