package lbconf

import (
	"fmt"
	"github.com/foobar/webstack/components/monitoring/signals"
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
	// Servers are the web servers of backend be_web, in this order. With
	// none, the file has no backend section: be_web is then defined by a
	// second file HAProxy loads after this one ("haproxy -f haproxy.cfg
	// -f backend.cfg"), rendered by [RenderBackend] and rewritten by
	// webstack-agent as web servers come and go.
	Servers          []Server
	HTTPPort         int    // frontend port, e.g. 80
	HTTPSPort        int    // e.g. 443; bound only when CertFile != ""
	CertFile         string // PEM with cert+chain+key; "" = plain HTTP only, no redirect
	HealthPath       string // web servers' health check path, e.g. "/healthz"
	HealthHost       string // Host header of the checks, e.g. "www.foobar.com"
	MonitorAddr      string // monitor frontend for keepalived, a loopback "IP:port", e.g. "127.0.0.1:8405"
	MonitorPath      string // monitor-uri, e.g. "/lbhealth"
	StatsAddr        string // stats listener, a loopback "IP:port", e.g. "127.0.0.1:8404"
	StatsUser        string // e.g. "admin"
	StatsPasswordEnv string // NAME of the environment variable holding the stats password; the file holds only "${NAME}"
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
	e.servers("HAProxy.Servers", h.Servers)
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
	e.healthCheck("HAProxy", h.HealthPath, h.HealthHost)
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

// servers checks the server list of a backend (field is its name in
// errors, e.g. "Backend.Servers"): valid, unique names and unique
// unicast IP endpoints. An empty list is valid.
func (e *errs) servers(field string, servers []Server) {
	names := map[string]bool{}
	endpoints := map[netip.AddrPort]bool{}
	for i, s := range servers {
		field := fmt.Sprintf("%s[%d]", field, i)
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
}

// healthCheck checks the health check path and Host header of a backend
// (prefix is "HAProxy" or "Backend").
func (e *errs) healthCheck(prefix, path, host string) {
	if !uriPath.MatchString(path) {
		e.add(prefix+".HealthPath", path, `must be a URL path such as "/healthz"`)
	}
	if !hostName.MatchString(host) {
		e.add(prefix+".HealthHost", host, `must be a host name such as "www.foobar.com"`)
	}
}

// RenderHAProxy renders haproxy.cfg for HAProxy 2.4 to 2.8 (checked with
// 2.6): frontend fe_www on HTTPPort (and HTTPSPort with TLS, redirecting
// plain HTTP to HTTPS), backend be_web with active health checks, a
// loopback monitor frontend for keepalived's track script and a loopback
// stats page. Without Servers, backend be_web is left out: a second file,
// rendered by [RenderBackend], defines it (see [HAProxy.Servers]).
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
	v := haproxyView{HAProxy: h, Socket: h.socket(), PasswordRef: "${" + h.StatsPasswordEnv + "}", LogFormat: signals.HAProxyLogFormat}
	if len(h.Servers) > 0 {
		b := Backend{Name: WebBackend, Servers: h.Servers, HealthPath: h.HealthPath, HealthHost: h.HealthHost}.view()
		v.Backend = &b
	}
	if h.Log == "stdout" {
		v.LogLine = "stdout format raw local0"
	} else {
		v.LogLine = h.Log + " local0"
	}
	var b strings.Builder
	if err := haproxyTmpl.ExecuteTemplate(&b, "haproxy.cfg", v); err != nil {
		return "", err // unreachable: the template and view are fixed
	}
	return b.String(), nil
}

// WebBackend is the name of the backend of the web servers, which the
// frontend of [RenderHAProxy] sends every request to.
const WebBackend = "be_web"

// Backend is the input of [RenderBackend]: the backend section of the web
// servers, in a file of its own.
type Backend struct {
	// Name is the backend's name: [WebBackend] ("be_web") for the file
	// that completes a [RenderHAProxy] configuration without Servers.
	Name string
	// Servers are the web servers, in this order; none is valid (HAProxy
	// then answers 503, until some are discovered).
	Servers []Server
	// HealthPath and HealthHost are the health check's path and Host
	// header, as in [HAProxy].
	HealthPath, HealthHost string
}

// validate reports every bad field of b.
func (b Backend) validate() error {
	var e errs
	e.name("Backend.Name", b.Name)
	e.servers("Backend.Servers", b.Servers)
	e.healthCheck("Backend", b.HealthPath, b.HealthHost)
	return e.err()
}

// view is what the "backend" template renders; b must be valid.
func (b Backend) view() backendView {
	v := backendView{Backend: b}
	for _, s := range b.Servers {
		a := netip.MustParseAddr(s.Address)
		v.Endpoints = append(v.Endpoints, endpoint{s.Name, netip.AddrPortFrom(a, uint16(s.Port)).String()})
	}
	return v
}

// RenderBackend renders a file holding only the backend section b, the
// same section [RenderHAProxy] renders when its HAProxy has Servers:
// round robin, L7 retries only for GET and HEAD, an HTTP health check of
// HealthPath with Host HealthHost expecting 200 (every second, down after
// 2 failures, up after 2 successes), and one "server" line per server.
//
// It completes a haproxy.cfg rendered without Servers; HAProxy loads both
// (and "haproxy -c" checks both) with "-f haproxy.cfg -f backend.cfg", in
// this order. Its Name must then be [WebBackend]. webstack-agent rewrites
// it as the web servers come and go, and reloads HAProxy. With no server,
// HAProxy answers 503.
func RenderBackend(b Backend) (string, error) {
	if err := b.validate(); err != nil {
		return "", err
	}
	var s strings.Builder
	if err := haproxyTmpl.ExecuteTemplate(&s, "backend.cfg", b.view()); err != nil {
		return "", err // unreachable: the template and view are fixed
	}
	return s.String(), nil
}

// endpoint is one "server" line.
type endpoint struct{ Name, Addr string }

// backendView is what the "backend" template renders.
type backendView struct {
	Backend
	Endpoints []endpoint
}

// haproxyView is what the "haproxy.cfg" template renders.
type haproxyView struct {
	HAProxy
	Socket      string
	LogLine     string
	PasswordRef string       // "${NAME}": HAProxy expands it inside double quotes
	Backend     *backendView // nil: be_web is in a file of its own
	LogFormat   string       // the site frontend's, from package signals
}

// Mozilla's "intermediate" TLS settings without the DHE suites, which
// would need a dhparam file.
const (
	tlsCiphers      = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
	tlsCiphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
)

// haproxyTmpl holds "haproxy.cfg" (RenderHAProxy), "backend.cfg"
// (RenderBackend) and the "backend" section both render.
var haproxyTmpl = parseTemplates(map[string]string{
	"backend":     backendSection,
	"backend.cfg": backendFile,
	"haproxy.cfg": haproxyFile,
})

// parseTemplates parses named templates into one set.
func parseTemplates(texts map[string]string) *template.Template {
	set := template.New("")
	for name, text := range texts {
		template.Must(set.New(name).Parse(text))
	}
	return set
}

// haproxyFile is the file RenderHAProxy renders.
const haproxyFile = `# haproxy.cfg, rendered by github.com/foobar/webstack/components/loadbalancer/lbconf.
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
    # One JSON object per request (components/monitoring/signals owns the
    # format; CloudWatch's metric filters count its status, cause and time).
    log-format '{{.LogFormat}}'
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
    default_backend ` + WebBackend + `
{{if .Backend}}
{{template "backend" .Backend}}
{{else}}
# backend ` + WebBackend + ` is in a second file, loaded after this one (haproxy -f
# haproxy.cfg -f backend.cfg); webstack-agent writes it from discovery.
{{end}}
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
`

// backendSection is the backend section, from "backend" to the last
// "server" line (no final newline), of a backendView.
const backendSection = `backend {{.Name}}
    balance roundrobin
    # Only GET and HEAD are safe to replay.
    http-request disable-l7-retry unless METH_GET
    option httpchk
    http-check send meth GET uri {{.HealthPath}} ver HTTP/1.1 hdr Host {{.HealthHost}}
    http-check expect status 200
    default-server check inter 1s fall 2 rise 2
{{- range .Endpoints}}
    server {{.Name}} {{.Addr}}
{{- end}}`

// backendFile is the file RenderBackend renders.
const backendFile = `# HAProxy backend {{.Name}}, rendered by github.com/foobar/webstack/components/loadbalancer/lbconf.
# Loaded after haproxy.cfg (haproxy -f haproxy.cfg -f this file). Do not edit:
# webstack-agent rewrites it when the web servers change.
{{- if not .Endpoints}}
# No web server yet: HAProxy answers 503 until one is discovered.
{{- end}}

{{template "backend" .}}
`
