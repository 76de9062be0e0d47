package nginxconf

// The webstack web server's choices. The AWS hosts (package webtier) and the
// local sandbox both build their configuration with WebServer, so they
// differ only in where files live (Paths).
const (
	HealthPath = "/healthz"
	Keepalive  = 32
)

// Paths is where a web server keeps its files and how nginx runs.
type Paths struct {
	ListenAddr          string // "" = all addresses
	WebRoot             string
	User                string // "" = the caller's (workers run as nobody under root)
	PidFile, TempDir    string
	AccessLog, ErrorLog string
	MimeTypes           string
	// ServersFile, when set, is the file listing the application servers
	// (Config.ServersFile), which webstack-agent writes with RenderServers;
	// WebServer's apps must then be nil. "" lists apps in nginx.conf.
	ServersFile string
}

// AWSPaths is where an Amazon Linux 2023 web server keeps its files.
var AWSPaths = Paths{
	WebRoot:   "/usr/share/webstack/www",
	User:      "nginx",
	PidFile:   "/run/nginx.pid",
	TempDir:   "/var/lib/nginx/tmp",
	AccessLog: "/var/log/nginx/access.log",
	ErrorLog:  "/var/log/nginx/error.log",
	MimeTypes: "/etc/nginx/mime.types",
}

// WebServer is the webstack web server's configuration for these
// application servers; with p.ServersFile set, apps must be nil and the
// servers come from that file (see RenderServers).
func WebServer(siteName string, port int, apps []Upstream, p Paths) Config {
	return Config{
		ListenAddr:      p.ListenAddr,
		ListenPort:      port,
		ServerName:      siteName,
		AppServers:      apps,
		ServersFile:     p.ServersFile,
		Keepalive:       Keepalive,
		WebRoot:         p.WebRoot,
		HealthPath:      HealthPath,
		User:            p.User,
		PidFile:         p.PidFile,
		TempDir:         p.TempDir,
		AccessLog:       p.AccessLog,
		ErrorLog:        p.ErrorLog,
		MimeTypes:       p.MimeTypes,
		WorkerProcesses: "auto",
	}
}
