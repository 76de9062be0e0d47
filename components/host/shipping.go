package host

import (
	"fmt"
	"path"
	"strings"

	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/monitoring/signals"
)

// Shipping is what a tier's hosts send to CloudWatch: the tier's log files
// to its log group and the host metrics to the stack's namespace, with
// the Amazon CloudWatch agent (package signals owns every name).
type Shipping struct {
	Project, Stack string
	Tier           signals.Tier
	// Group is the tier's Auto Scaling group, the metrics' dimension.
	Group string
}

// ShippingPackages are installed at first boot on every host that ships.
var ShippingPackages = []string{signals.AgentPackage, "logrotate"}

// LogrotateFile is the rotation of the shipped log files the daemons
// write themselves.
const LogrotateFile = "/etc/logrotate.d/webstack"

// Ship adds the CloudWatch agent's configuration and the log files'
// rotation to the bundle, and (re)starts the agent when the bundle is
// applied. The agent reads the files by name and follows a copytruncate
// rotation; local copies are kept two days, CloudWatch keeps the rest.
func (b *Bundle) Ship(s Shipping) error {
	cfg, err := signals.AgentConfig(s.Project, s.Stack, s.Tier, s.Group)
	if err != nil {
		return err
	}
	var files, dirs []string
	for _, f := range signals.LogFiles[s.Tier] {
		if !f.PackageRotates {
			files = append(files, f.Path)
		}
		if d := path.Dir(f.Path); !containsString(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	b.Files = append(b.Files, File{Path: signals.AgentConfigFile, Content: cfg, Owner: "root:root"})
	if sources := signals.JournalSources[s.Tier]; len(sources) > 0 {
		b.Files = append(b.Files, File{Path: JournalCopyUnitFile, Content: JournalCopyUnit(sources), Owner: "root:root"})
	}
	if len(files) > 0 {
		rotate := fmt.Sprintf("# Rotation of the logs the CloudWatch agent ships (webstack bundle %s).\n%s {\n    daily\n    rotate 2\n    maxsize 100M\n    missingok\n    notifempty\n    compress\n    delaycompress\n    copytruncate\n}\n",
			b.Name, strings.Join(files, " "))
		b.Files = append(b.Files, File{Path: LogrotateFile, Content: rotate, Owner: "root:root"})
	}
	// The directories exist before the daemons (re)start and write there.
	b.Activate = append([]string{"install -d -m 0755 " + strings.Join(dirs, " ")}, b.Activate...)
	if len(signals.JournalSources[s.Tier]) > 0 {
		b.Activate = append(b.Activate, "systemctl daemon-reload", "systemctl enable "+JournalCopyName, "systemctl restart "+JournalCopyName)
	}
	b.Activate = append(b.Activate, signals.AgentStart)
	return nil
}

// JournalCopyName is the unit that copies the journal lines of what logs
// only there (webstack-sync, the agent, keepalived) to signals.JournalLog.
const (
	JournalCopyName     = "webstack-journal-copy"
	JournalCopyUnitFile = "/etc/systemd/system/" + JournalCopyName + ".service"
)

// JournalCopyUnit is its unit: journalctl follows the matches from now on
// and appends each line (ISO time, unit, message) to signals.JournalLog,
// which logrotate truncates in place; restarted if it ever stops.
func JournalCopyUnit(matches []string) string {
	return `[Unit]
Description=webstack: copy the journal lines of webstack-sync, the agent (and keepalived) to ` + signals.JournalLog + ` for the CloudWatch agent
After=systemd-journald.service

[Service]
ExecStart=/bin/sh -c 'exec /usr/bin/journalctl --follow --lines=0 --output=short-iso ` + strings.Join(matches, " ") + ` >>` + signals.JournalLog + `'
Restart=always
RestartSec=5
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`
}

// ShippingStatements let a tier's hosts ship: write log streams of their
// own tier's log group only, and put metrics into the stack's namespace
// only (PutMetricData takes no resource; its cloudwatch:namespace
// condition key narrows it).
func ShippingStatements(partition, region, account string, s Shipping) []iampolicy.Statement {
	group := iampolicy.ARN(partition, "logs", region, account, "log-group:"+signals.LogGroupName(s.Project, s.Stack, s.Tier))
	metrics := iampolicy.Allow("PutOwnMetrics", []string{"cloudwatch:PutMetricData"}, "*")
	metrics.Condition = map[string]map[string]any{"StringEquals": {"cloudwatch:namespace": signals.Namespace(s.Project, s.Stack)}}
	return []iampolicy.Statement{
		iampolicy.Allow("ShipOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
			group+":*", group+":log-stream:*"),
		metrics,
	}
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
