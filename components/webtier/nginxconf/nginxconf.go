// Package nginxconf renders the nginx configuration of the webstack web
// tier and the static content it serves.
//
// A web server sits between the HAProxy load balancers and the application
// servers. nginx answers the load balancers' health checks itself, serves
// /static/ from disk, and passes everything else to the application servers
// over pooled keep-alive connections, retrying idempotent requests on another
// server when one fails. When no application server answers, clients get a
// friendly error page.
//
// The output is valid for nginx 1.22 (Debian 12) and 1.24+ (Amazon Linux
// 2023). Every path is a parameter, so the same configuration runs on a real
// host and in a sandbox where several nginx instances share one filesystem.
package nginxconf

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/foobar/webstack/components/monitoring/signals"
)

// UpstreamIdleTimeout is how long nginx keeps an idle connection to an
// application server open. Application servers must keep idle connections
// open longer than this: if the server closes one first, a request nginx
// sends on it at that moment fails, and a POST is not retried.
const UpstreamIdleTimeout = 30 * time.Second

// Upstream is one application server.
type Upstream struct {
	Name    string // unique; a comment in the configuration, e.g. "app-1"
	Address string // host name or IP address, without the port
	Port    int    // 1 to 65535
}

// Config describes one web server. All paths must be absolute; none may
// contain white space, quotes, ';', '{', '}', '#', '$' or '\'.
type Config struct {
	ListenAddr string     // address to listen on; "" = all addresses
	ListenPort int        // e.g. 80
	ServerName string     // e.g. "www.foobar.com"
	AppServers []Upstream // at least 1, unless ServersFile is set
	// ServersFile, when set, is the absolute path of a file holding the
	// server lines of the application servers' upstream block, rendered by
	// [RenderServers] and rewritten by webstack-agent as application servers
	// come and go; nginx.conf includes it, and AppServers must then be
	// empty. "" lists AppServers in nginx.conf itself.
	ServersFile string
	// Keepalive is the number of idle keep-alive connections to the
	// application servers that each worker keeps, e.g. 32.
	Keepalive int
	// WebRoot is the directory holding static/ and errors/ (see Files),
	// e.g. "/usr/share/webstack/www". The worker user must be able to
	// read it.
	WebRoot string
	// HealthPath is answered "ok" by nginx itself, e.g. "/healthz".
	HealthPath string
	// User is the worker user, "nginx" on Amazon Linux; "" omits the
	// directive (sandbox). An nginx started as root without it runs its
	// workers as nobody.
	User string
	// PidFile is where the master writes its pid, e.g. "/run/nginx.pid".
	PidFile string
	// TempDir is an existing directory under which nginx creates its
	// client_body, proxy, fastcgi, uwsgi and scgi temporary directories,
	// e.g. "/var/lib/nginx/tmp".
	TempDir string
	// AccessLog is a file path or "off".
	AccessLog string
	// ErrorLog is a file path or "stderr".
	ErrorLog string
	// MimeTypes is the file mapping extensions to types, e.g.
	// "/etc/nginx/mime.types".
	MimeTypes string
	// WorkerProcesses is "auto" or a positive number.
	WorkerProcesses string
}

//go:embed nginx.conf.tmpl
var confText string

// serverLine is one server of the upstream block, in nginx.conf and in a
// ServersFile alike.
const serverLine = `server {{.HostPort}} max_fails=1 fail_timeout=5s;    # {{.Name}}`

// serversFile is the file RenderServers renders.
const serversFile = `# Application servers of nginx's upstream app, rendered by
# github.com/foobar/webstack/components/webtier/nginxconf and included by
# nginx.conf. Do not edit: webstack-agent rewrites it when they change.
{{- range .}}
{{template "server" .}}
{{- else}}
# None yet. nginx refuses an upstream without servers: this one, always down,
# keeps the configuration valid, and requests get the error page (502).
server ` + placeholder + ` down;
{{- end}}
`

// placeholder is the address of the server of an empty ServersFile.
const placeholder = "127.0.0.1:1"

var confTemplate = func() *template.Template {
	t := template.Must(template.New("nginx.conf").Parse(confText))
	template.Must(t.New("server").Parse(serverLine))
	template.Must(t.New("servers").Parse(serversFile))
	return t
}()

// view is what the template sees: validated values, pre-formatted.
type view struct {
	Config
	Listen          string
	Servers         []server
	UpstreamTimeout string
	// The access log's format, owned by package signals.
	LogFormatName, LogFormat string
}

type server struct{ HostPort, Name string }

// Render returns a complete nginx.conf (main context) for c. The same
// Config always gives the same text. Invalid input is reported field by
// field, all problems at once.
func Render(c Config) (string, error) {
	if err := c.validate(); err != nil {
		return "", err
	}
	v := view{
		Config:          c,
		Listen:          strconv.Itoa(c.ListenPort),
		UpstreamTimeout: fmt.Sprintf("%ds", int(UpstreamIdleTimeout.Seconds())),
		LogFormatName:   signals.NginxLogFormatName,
		LogFormat:       signals.NginxLogFormat,
	}
	if c.ListenAddr != "" {
		v.Listen = net.JoinHostPort(c.ListenAddr, v.Listen)
	}
	v.Servers = servers(c.AppServers)
	var b bytes.Buffer
	if err := confTemplate.ExecuteTemplate(&b, "nginx.conf", v); err != nil {
		return "", fmt.Errorf("nginxconf: %w", err)
	}
	return b.String(), nil
}

// RenderServers returns the file a Config's ServersFile names: one server
// line per application server, in this order, as Render writes them into
// the upstream block when ServersFile is "". With no server, it holds a
// server that is always down (nginx refuses an upstream without servers),
// so nginx stays valid and answers 502 with the error page. Invalid input
// is reported server by server, all problems at once.
func RenderServers(ups []Upstream) (string, error) {
	var errs []error
	validateUpstreams("servers", ups, func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("nginxconf: %s: "+format, append([]any{field}, args...)...))
	})
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := confTemplate.ExecuteTemplate(&b, "servers", servers(ups)); err != nil {
		return "", fmt.Errorf("nginxconf: %w", err)
	}
	return b.String(), nil
}

// servers formats validated upstreams for the templates.
func servers(ups []Upstream) []server {
	var out []server
	for _, u := range ups {
		out = append(out, server{net.JoinHostPort(u.Address, strconv.Itoa(u.Port)), u.Name})
	}
	return out
}

// validateUpstreams reports, through bad, every problem of a list of
// application servers called field: names, addresses and ports, and
// duplicate names or endpoints.
func validateUpstreams(field string, ups []Upstream, bad func(field, format string, args ...any)) {
	check := func(field string, err error) {
		if err != nil {
			bad(field, "%v", err)
		}
	}
	names, addrs := map[string]bool{}, map[string]bool{}
	for i, u := range ups {
		f := fmt.Sprintf("%s[%d]", field, i)
		check(f+".Name", word(u.Name))
		check(f+".Address", host(u.Address))
		check(f+".Port", port(u.Port))
		if names[u.Name] {
			bad(f+".Name", "%q is used twice", u.Name)
		}
		hp := net.JoinHostPort(u.Address, strconv.Itoa(u.Port))
		if addrs[hp] {
			bad(f, "%s is listed twice", hp)
		}
		names[u.Name], addrs[hp] = true, true
	}
}

func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("nginxconf: %s: "+format, append([]any{field}, args...)...))
	}
	check := func(field string, err error) {
		if err != nil {
			bad(field, "%v", err)
		}
	}

	if c.ListenAddr != "" {
		check("ListenAddr", host(c.ListenAddr))
	}
	check("ListenPort", port(c.ListenPort))
	check("ServerName", word(c.ServerName))
	switch {
	case c.ServersFile != "":
		check("ServersFile", path(c.ServersFile))
		if len(c.AppServers) > 0 {
			bad("AppServers", "must be empty when ServersFile is set (the servers are listed in that file)")
		}
	case len(c.AppServers) == 0:
		bad("AppServers", "at least one application server is required (or a ServersFile)")
	}
	validateUpstreams("AppServers", c.AppServers, bad)
	if c.Keepalive < 1 {
		bad("Keepalive", "%d: must be at least 1 (0 would open a connection per request)", c.Keepalive)
	}
	check("WebRoot", path(c.WebRoot))
	check("HealthPath", healthPath(c.HealthPath))
	if c.User != "" {
		check("User", word(c.User))
	}
	check("PidFile", path(c.PidFile))
	check("TempDir", path(c.TempDir))
	if c.AccessLog != "off" {
		check("AccessLog", path(c.AccessLog))
	}
	if c.ErrorLog != "stderr" {
		check("ErrorLog", path(c.ErrorLog))
	}
	check("MimeTypes", path(c.MimeTypes))
	if n, err := strconv.Atoi(c.WorkerProcesses); c.WorkerProcesses != "auto" && (err != nil || n < 1) {
		bad("WorkerProcesses", "%q: must be \"auto\" or a positive number", c.WorkerProcesses)
	}
	return errors.Join(errs...)
}

// word accepts a non-empty string that needs no quoting in nginx.conf.
func word(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`;{}"'#$\`, r) {
			return fmt.Errorf("%q: must not contain white space, control characters or any of ;{}\"'#$\\", s)
		}
	}
	return nil
}

func path(s string) error {
	if err := word(s); err != nil {
		return err
	}
	if !filepath.IsAbs(s) {
		return fmt.Errorf("%q: must be an absolute path", s)
	}
	return nil
}

func host(s string) error {
	if err := word(s); err != nil {
		return err
	}
	if strings.Contains(s, ":") && net.ParseIP(s) == nil {
		return fmt.Errorf("%q: must be a host name or IP address, without a port", s)
	}
	return nil
}

func port(p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%d: must be between 1 and 65535", p)
	}
	return nil
}

func healthPath(s string) error {
	if err := word(s); err != nil {
		return err
	}
	switch {
	case !strings.HasPrefix(s, "/") || strings.Contains(s, "?"):
		return fmt.Errorf("%q: must be a path starting with / and without a query", s)
	case s == "/" || s == "/robots.txt" || strings.HasPrefix(s, "/static/") || strings.HasPrefix(s, "/errors/"):
		return fmt.Errorf("%q: must not be /, /robots.txt, nor under /static/ or /errors/", s)
	}
	return nil
}
