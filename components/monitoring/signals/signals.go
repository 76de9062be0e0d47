// Package signals is the one owner of what webstack's hosts say about the
// traffic they carry and how CloudWatch turns it into metrics: the access
// log formats the daemons write (HAProxy, nginx, the application), where
// each tier's logs go, the metric namespace and names, and the CloudWatch
// Logs metric filter patterns that count requests, errors and latency.
//
// The daemons' renderers (lbconf, nginxconf, appconf), the monitoring
// component (metric filters, alarms, dashboard) and the tests all read
// these values; nothing else spells them. Pure: no Pulumi.
package signals

import (
	"fmt"
	"strings"
)

// Tier is a box of the diagram whose hosts ship logs.
type Tier string

// The tiers with hosts.
const (
	LoadBalancer Tier = "lb"
	Web          Tier = "web"
	App          Tier = "app"
)

// Tiers in the order of the diagram.
var Tiers = []Tier{LoadBalancer, Web, App}

// Namespace is the CloudWatch metric namespace of one stack's metrics:
// metric filters cannot add a constant dimension, so the stack is in the
// namespace.
func Namespace(project, stack string) string { return "webstack/" + project + "-" + stack }

// LogGroupName is the CloudWatch log group of one tier's hosts. Each host
// writes its own streams ({instance_id}/<source>).
func LogGroupName(project, stack string, tier Tier) string {
	return "/webstack/" + project + "-" + stack + "/" + string(tier)
}

// LogFile is one file a tier's hosts write and ship to the tier's log group.
type LogFile struct {
	Path   string // on the host
	Source string // the stream's suffix: {instance_id}/<Source>
	// PackageRotates is set where the daemon's package rotates the file
	// itself (nginx's /etc/logrotate.d/nginx): webstack's rotation must
	// not name it too (logrotate refuses a file named twice).
	PackageRotates bool
}

// Log files on the hosts. The access logs are JSON lines in the formats
// below; the others are the daemons' own text.
const (
	HAProxyAccessLog = "/var/log/haproxy/access.log"
	NginxAccessLog   = "/var/log/nginx/access.log"
	NginxErrorLog    = "/var/log/nginx/error.log"
	AppLog           = "/var/log/webstack/app.log"
	// VRRPStateLog is where each load-balancer node says, once a minute,
	// whether it is keepalived's MASTER (lbconf.KeepAddressScript).
	VRRPStateLog = "/var/log/webstack/vrrp.log"
	// JournalLog is where the hosts copy the journal lines of what logs
	// only there (JournalSources): the CloudWatch agent reads files.
	JournalLog = "/var/log/webstack/journal.log"
)

// JournalSources are the journalctl matches each tier's hosts copy to
// JournalLog: webstack-sync (bundles applied or refused) and the agent
// (readiness, discovery, health, drain) everywhere; keepalived and the
// takeover scripts (tag webstack-lb) on the load balancers.
var JournalSources = map[Tier][]string{
	LoadBalancer: {"--unit=webstack-sync", "--unit=webstack-agent", "--unit=keepalived", "--identifier=webstack-lb"},
	Web:          {"--unit=webstack-sync", "--unit=webstack-agent"},
	App:          {"--unit=webstack-sync", "--unit=webstack-agent"},
}

// Access log line fields. Every access line carries "log" naming its
// writer, so a pattern never counts another daemon's line.
const (
	FieldLog    = "log"
	FieldStatus = "status"
	// HAProxy: the server that answered ("<NOSRV>" when none could), the
	// termination state (two letters, e.g. "sH": server timeout while
	// waiting for headers) and the total active time in ms.
	FieldServer  = "server"
	FieldTerm    = "term"
	FieldTotalMs = "ms"
	// nginx: request_time in seconds (ms resolution).
	FieldSeconds = "seconds"
	// The application: its slog message and the request's duration in ms.
	FieldMsg        = "msg"
	FieldDurationMs = "duration_ms"
)

// Log names (the "log" field's value) and the application's message.
const (
	HAProxyLogName = "haproxy"
	// VRRPLogName is the state lines' "log"; FieldVRRPMaster is 1 on the
	// MASTER, 0 on a BACKUP.
	VRRPLogName     = "vrrp"
	FieldVRRPMaster = "vrrp_master"
	NginxLogName    = "nginx"
	AppRequestMsg   = "request"
	NoServer        = "<NOSRV>"
)

// HAProxyLogFormat is the log-format of the site's frontend: one JSON
// object per request. It names the path without the query string (%HPO):
// a token in a URL never reaches a log line; no header or cookie is logged.
const HAProxyLogFormat = `{"log":"haproxy","time":"%tr","client":"%ci","method":"%HM","path":"%HPO","status":%ST,"bytes":%B,"server":"%s","term":"%ts","ms":%Ta,"queue_ms":%Tw,"connect_ms":%Tc,"response_ms":%Tr}`

// NginxLogFormatName and NginxLogFormat are the web servers' access log
// format (escape=json): the path without the query string ($uri), never a
// header, cookie or body.
const (
	NginxLogFormatName = "webstack_json"
	NginxLogFormat     = `{"log":"nginx","time":"$time_iso8601","client":"$remote_addr","method":"$request_method","path":"$uri","status":$status,"bytes":$body_bytes_sent,"seconds":$request_time,"upstream":"$upstream_addr","upstream_status":"$upstream_status"}`
)

// Unit is a CloudWatch metric unit.
type Unit string

// Units the metrics use.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Seconds      Unit = "Seconds"
)

// Metric is one metric a metric filter makes of a tier's log lines.
type Metric struct {
	Name string // in Namespace
	Tier Tier   // whose log group the filter is on
	// Pattern is the metric filter pattern (CloudWatch Logs JSON syntax).
	Pattern string
	// Value is "1" (count the line) or a $.field selector.
	Value string
	Unit  Unit
	// Help says what the metric counts, for the dashboard and the docs.
	Help string
}

// Field is the $.field selector of a field.
func Field(name string) string { return "$." + name }

func is(field, value string) string      { return fmt.Sprintf("$.%s = %q", field, value) }
func and(terms ...string) string         { return "{ " + strings.Join(terms, " && ") + " }" }
func num(field, op string, n int) string { return fmt.Sprintf("$.%s %s %d", field, op, n) }

// Metric names.
const (
	LBRequests  = "LBRequests"
	LB5xx       = "LB5xx"
	LBNoServer  = "LBNoServer"
	LBTimeout   = "LBTimeout"
	LBLatency   = "LBLatency"
	WebRequests = "WebRequests"
	Web5xx      = "Web5xx"
	WebLatency  = "WebLatency"
	AppRequests = "AppRequests"
	App5xx      = "App5xx"
	App503      = "App503"
	AppLatency  = "AppLatency"
	LBMasters   = "LBMasters"
)

// Metrics are every metric the stack's metric filters emit.
var Metrics = []Metric{
	{LBRequests, LoadBalancer, and(is(FieldLog, HAProxyLogName)), "1", Count, "requests the load balancers answered"},
	{LB5xx, LoadBalancer, and(is(FieldLog, HAProxyLogName), num(FieldStatus, ">=", 500)), "1", Count, "5xx answers to clients, whatever the cause"},
	{LBNoServer, LoadBalancer, and(is(FieldLog, HAProxyLogName), is(FieldServer, NoServer), num(FieldStatus, ">=", 500)), "1", Count, "5xx because no web server was up (HAProxy answered itself)"},
	{LBTimeout, LoadBalancer, and(is(FieldLog, HAProxyLogName), num(FieldStatus, "=", 504)), "1", Count, "504: a web server did not answer in time"},
	{LBLatency, LoadBalancer, and(is(FieldLog, HAProxyLogName), num(FieldTotalMs, ">=", 0)), Field(FieldTotalMs), Milliseconds, "time from the request's first byte to the response's last, at HAProxy"},
	{WebRequests, Web, and(is(FieldLog, NginxLogName)), "1", Count, "requests the web servers answered"},
	{Web5xx, Web, and(is(FieldLog, NginxLogName), num(FieldStatus, ">=", 500)), "1", Count, "5xx answers of the web servers (theirs or the application's)"},
	{WebLatency, Web, and(is(FieldLog, NginxLogName), num(FieldSeconds, ">=", 0)), Field(FieldSeconds), Seconds, "nginx's request time"},
	{AppRequests, App, and(is(FieldMsg, AppRequestMsg)), "1", Count, "requests the application served (health checks aside)"},
	{App5xx, App, and(is(FieldMsg, AppRequestMsg), num(FieldStatus, ">=", 500)), "1", Count, "5xx answers of the application"},
	{App503, App, and(is(FieldMsg, AppRequestMsg), num(FieldStatus, "=", 503)), "1", Count, "503: the application could not reach the database"},
	{AppLatency, App, and(is(FieldMsg, AppRequestMsg), num(FieldDurationMs, ">=", 0)), Field(FieldDurationMs), Milliseconds, "the application's time per request"},
	// Averaged over the pair's nodes, a half: one MASTER, one BACKUP.
	{LBMasters, LoadBalancer, and(is(FieldLog, VRRPLogName), num(FieldVRRPMaster, ">=", 0)), Field(FieldVRRPMaster), Count, "each node, once a minute: 1 if it is keepalived's MASTER (the pair averages one half)"},
}

// MetricNamed returns the metric called name; it panics on a name this
// package does not define (a programming error).
func MetricNamed(name string) Metric {
	for _, m := range Metrics {
		if m.Name == name {
			return m
		}
	}
	panic("signals: no metric " + name)
}

// LogFiles are the files each tier's hosts ship to the tier's log group
// (what logs only to the journal, which the CloudWatch agent does not
// read, is copied to JournalLog first).
var LogFiles = map[Tier][]LogFile{
	LoadBalancer: {{Path: HAProxyAccessLog, Source: "haproxy"}, {Path: VRRPStateLog, Source: "vrrp"}, {Path: JournalLog, Source: "journal"}},
	Web:          {{Path: NginxAccessLog, Source: "nginx-access", PackageRotates: true}, {Path: NginxErrorLog, Source: "nginx-error", PackageRotates: true}, {Path: JournalLog, Source: "journal"}},
	App:          {{Path: AppLog, Source: "app"}, {Path: JournalLog, Source: "journal"}},
}
