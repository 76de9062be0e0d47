// Package appconf renders the files that run the application on an
// application server (Amazon Linux 2023, systemd 252): the application's
// service unit, the oneshot unit that fetches its database secret from AWS
// Secrets Manager, the script that unit runs, and environment files.
// Everything is a pure function of its arguments.
//
// How the pieces fit, with the example names:
//
//	webstack-app-secrets.service   Type=oneshot, root, RemainAfterExit=no
//	  EnvironmentFile=/etc/webstack/app-secret.env   WEBSTACK_DB_SECRET_ARN=arn:...
//	  ExecStart=/usr/local/libexec/webstack/fetch-db-secret /run/webstack-app-secrets/db.json
//	      aws secretsmanager get-secret-value ... > temporary file (0600), renamed over the output
//
//	webstack-app.service           Requires= and After= webstack-app-secrets.service
//	  LoadCredential=db:/run/webstack-app-secrets/db.json
//	  Environment=WEBSTACK_DB_SECRET_FILE=%d/db
//	  EnvironmentFile=/etc/webstack/app.env          WEBSTACK_LISTEN, WEBSTACK_HOST_NAME
//	  ExecStart=/opt/webstack/app/current/webstack-app
//
// Every start of the application (boot, restart after a crash, systemctl
// restart) runs the oneshot again, because it does not remain active: the
// application always starts with the current secret, so a rotated password
// is picked up by a restart. The secret file is readable by root only;
// systemd (as root) copies it into the service's private credentials
// directory, so the application's user can read it and nothing else
// running under another user can.
//
// # User
//
// The application runs with DynamicUser=yes under the name Service.User:
// it owns no files and needs no state, so a transient user that systemd
// allocates for the life of the service is the strongest choice and needs
// no provisioning step. If a static system user of that name exists (for
// example created by sysusers.d), systemd uses it instead; nothing here
// depends on which.
package appconf

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"
)

// Sandboxing both units share (systemd.exec(5)): a private /tmp and /dev;
// no kernel, control group, clock or host name changes; and the
// restrictions on sockets, namespaces, realtime and set-uid files.
const (
	kernelAndDevices = `PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
`
	restrictions = `RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
`
)

// header marks every rendered file.
const header = "Rendered by github.com/foobar/webstack/components/apptier/appconf; do not edit."

// Service describes the application's service unit.
type Service struct {
	// Name is the unit name without ".service", e.g. "webstack-app".
	Name string
	// ExecPath is the application binary, e.g.
	// "/opt/webstack/app/current/webstack-app".
	ExecPath string
	// User is the name the service runs as (DynamicUser=yes; see the
	// package comment), e.g. "webstack-app".
	User string
	// EnvFile is the EnvironmentFile with the non-secret settings
	// WEBSTACK_LISTEN and WEBSTACK_HOST_NAME (see EnvFile), e.g.
	// "/etc/webstack/app.env". It must exist.
	EnvFile string
	// Credential is the root-only file holding the database secret JSON,
	// written by SecretsUnit before each start and passed to the
	// application with LoadCredential=db:<Credential>, e.g.
	// "/run/webstack-app-secrets/db.json". It is SecretsFetch.Output.
	Credential string
	// SecretsUnit is the name (without ".service") of the oneshot unit that
	// writes Credential; the service Requires= and is After= it, e.g.
	// "webstack-app-secrets".
	SecretsUnit string
	// ListenPort is the TCP port in WEBSTACK_LISTEN. Below 1024 the service
	// gets CAP_NET_BIND_SERVICE (ambient, and nothing else); 0 means an
	// unprivileged port (the application's default is 8080).
	ListenPort int
	// LogFile, if set, is where systemd appends the application's output
	// (its JSON log lines), for the CloudWatch agent to ship; its
	// directory must exist. "" leaves the output to the journal.
	LogFile string
}

// Service timing. The application finishes in-flight requests for up to
// 10 s after SIGTERM; systemd waits a little longer before SIGKILL.
const (
	restartSec     = 1
	timeoutStopSec = 20
	// A service that fails 10 times within 60 s stays failed (and visible)
	// rather than restarting forever and re-fetching its secret each time.
	startLimitIntervalSec = 60
	startLimitBurst       = 10
)

// unitNameRe: a unit name without suffix (no template instances).
var unitNameRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,200}$`)

// userRe: a portable system user name (also what DynamicUser= accepts).
var userRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)

// pathRe: absolute paths made of characters that need no quoting or
// escaping anywhere in a unit file or a shell command (no spaces, quotes,
// "%" specifiers, "$" or backslashes).
var pathRe = regexp.MustCompile(`^/[A-Za-z0-9_.@+/-]*$`)

// problems collects validation errors.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err(what string) error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("appconf: %s: %s", what, strings.Join(p, "; "))
}

func (p *problems) unitName(field, v string) {
	switch {
	case v == "":
		p.add("%s is empty", field)
	case strings.HasSuffix(v, ".service"):
		p.add("%s %q: give the name without .service", field, v)
	case !unitNameRe.MatchString(v) || strings.Contains(v, "@"):
		p.add("%s %q is not a valid unit name", field, v)
	}
}

func (p *problems) path(field, v string) {
	switch {
	case v == "":
		p.add("%s is empty", field)
	case !pathRe.MatchString(v):
		p.add("%s %q must be an absolute path of letters, digits and _.@+/- only", field, v)
	case path.Clean(v) != v || v == "/":
		p.add("%s %q is not a clean path to a file", field, v)
	}
}

// Unit renders the application's service unit.
func Unit(s Service) (string, error) {
	var p problems
	p.unitName("Name", s.Name)
	p.unitName("SecretsUnit", s.SecretsUnit)
	if s.Name != "" && s.Name == s.SecretsUnit {
		p.add("SecretsUnit must differ from Name")
	}
	p.path("ExecPath", s.ExecPath)
	p.path("EnvFile", s.EnvFile)
	p.path("Credential", s.Credential)
	if s.LogFile != "" {
		p.path("LogFile", s.LogFile)
	}
	if !userRe.MatchString(s.User) {
		p.add("User %q is not a valid user name", s.User)
	} else if s.User == "root" {
		p.add("User must not be root")
	}
	if s.ListenPort < 0 || s.ListenPort > 65535 {
		p.add("ListenPort %d is not a TCP port", s.ListenPort)
	}
	if err := p.err("service " + s.Name); err != nil {
		return "", err
	}
	caps := ""
	if s.ListenPort > 0 && s.ListenPort < 1024 {
		caps = "CAP_NET_BIND_SERVICE"
	}
	return render(unitTemplate, map[string]any{
		"S":                     s,
		"Caps":                  caps,
		"Header":                header,
		"RestartSec":            restartSec,
		"TimeoutStopSec":        timeoutStopSec,
		"StartLimitIntervalSec": startLimitIntervalSec,
		"StartLimitBurst":       startLimitBurst,
	})
}

var unitTemplate = template.Must(template.New("unit").Parse(`# {{.S.Name}}.service: the webstack application.
# {{.Header}}

[Unit]
Description=webstack application ({{.S.Name}})
Wants=network-online.target
After=network-online.target {{.S.SecretsUnit}}.service
Requires={{.S.SecretsUnit}}.service
StartLimitIntervalSec={{.StartLimitIntervalSec}}
StartLimitBurst={{.StartLimitBurst}}

[Service]
Type=exec
ExecStart={{.S.ExecPath}}
User={{.S.User}}
Group={{.S.User}}
DynamicUser=yes
EnvironmentFile={{.S.EnvFile}}
# The database secret, fetched by {{.S.SecretsUnit}}.service: systemd copies
# it into this service's private credentials directory (%d).
LoadCredential=db:{{.S.Credential}}
Environment=WEBSTACK_DB_SECRET_FILE=%d/db
{{- if .S.LogFile}}
StandardOutput=append:{{.S.LogFile}}
StandardError=append:{{.S.LogFile}}
{{- end}}
{{- if .S.LogFile}}
StandardOutput=append:{{.S.LogFile}}
StandardError=append:{{.S.LogFile}}
{{- end}}
Restart=on-failure
RestartSec={{.RestartSec}}
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec={{.TimeoutStopSec}}
UMask=0077

# Sandbox: the application only needs to read its binary, listen on TCP
# and connect to the database.
CapabilityBoundingSet={{.Caps}}
AmbientCapabilities={{.Caps}}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
` + kernelAndDevices + `ProtectProc=invisible
ProcSubset=pid
` + restrictions + `RemoveIPC=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`))

// SecretsFetch describes the oneshot unit that writes the database secret.
type SecretsFetch struct {
	// Unit is the unit name without ".service", e.g.
	// "webstack-app-secrets" (Service.SecretsUnit).
	Unit string
	// SecretARNEnvFile is the EnvironmentFile that sets
	// WEBSTACK_DB_SECRET_ARN (and optionally AWS_REGION, otherwise taken
	// from the ARN), e.g. "/etc/webstack/app-secret.env". It must exist.
	SecretARNEnvFile string
	// Output is the root-only file the secret JSON is written to
	// (Service.Credential). Under /run (recommended: a tmpfs, so the secret
	// never reaches a disk) the unit creates its directory as a
	// RuntimeDirectory= of mode 0700 that survives the oneshot, e.g.
	// "/run/webstack-app-secrets/db.json"; use a directory named after
	// the unit, as another unit sharing the RuntimeDirectory could remove
	// it. Elsewhere the directory must exist and the unit may write only
	// there.
	Output string
	// Script is where SecretsScript is installed (mode 0755, root), e.g.
	// "/usr/local/libexec/webstack/fetch-db-secret".
	Script string
}

// fetchTimeoutSec bounds the whole fetch, retries included (the script
// makes 5 attempts of at most 20 s each, 20 s of pauses between them).
const fetchTimeoutSec = 180

// SecretsUnit renders the oneshot unit that runs the fetch script as root
// before each start of the application.
func SecretsUnit(f SecretsFetch) (string, error) {
	var p problems
	p.unitName("Unit", f.Unit)
	p.path("SecretARNEnvFile", f.SecretARNEnvFile)
	p.path("Output", f.Output)
	p.path("Script", f.Script)
	runtimeDir := ""
	if rest, ok := strings.CutPrefix(path.Dir(f.Output), "/run/"); ok {
		runtimeDir = rest
	} else if path.Dir(f.Output) == "/run" {
		p.add("Output %q: put it in a directory of its own under /run", f.Output)
	}
	if err := p.err("secrets unit " + f.Unit); err != nil {
		return "", err
	}
	return render(secretsTemplate, map[string]any{
		"F":          f,
		"RuntimeDir": runtimeDir,
		"OutputDir":  path.Dir(f.Output),
		"Header":     header,
		"TimeoutSec": fetchTimeoutSec,
	})
}

var secretsTemplate = template.Must(template.New("secrets").Parse(`# {{.F.Unit}}.service: fetches the application's database secret from AWS
# Secrets Manager into a root-only file, before each start of the
# application (which Requires= this unit). It does not remain active, so
# every start fetches the current secret.
# {{.Header}}

[Unit]
Description=Fetch the webstack database secret ({{.F.Unit}})
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=no
EnvironmentFile={{.F.SecretARNEnvFile}}
ExecStart={{.F.Script}} {{.F.Output}}
TimeoutStartSec={{.TimeoutSec}}
UMask=0077
{{- if .RuntimeDir}}
RuntimeDirectory={{.RuntimeDir}}
RuntimeDirectoryMode=0700
RuntimeDirectoryPreserve=yes
{{- else}}
ReadWritePaths={{.OutputDir}}
{{- end}}

# Sandbox: root, but without capabilities; it may only run the aws CLI
# (reading its configuration) and write the output directory.
CapabilityBoundingSet=
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
` + kernelAndDevices + restrictions + `LockPersonality=yes
SystemCallArchitectures=native
`))

// SecretsScript returns the bash script the secrets unit runs:
//
//	fetch-db-secret OUTPUT
//
// It reads the secret named by $WEBSTACK_DB_SECRET_ARN (region from
// $AWS_REGION, else from the ARN) with
//
//	aws secretsmanager get-secret-value --secret-id "$WEBSTACK_DB_SECRET_ARN" \
//	    --query SecretString --output text
//
// into a temporary file beside OUTPUT created under umask 077 (mode 0600),
// and renames it over OUTPUT once complete, so a reader sees the old or the
// new secret, never part of one. It never prints the value (tracing is
// switched off first thing). It makes $WEBSTACK_FETCH_ATTEMPTS attempts
// (default 5) with growing pauses, and fails if the secret has no
// SecretString. Exit status: 0 written, 1 fetch failed, 2 usage.
func SecretsScript() string { return secretsScript }

const secretsScript = `#!/bin/bash
# fetch-db-secret OUTPUT: writes the webstack database secret from AWS
# Secrets Manager to OUTPUT (mode 0600), never printing it.
# ` + header + `
#
# Environment:
#   WEBSTACK_DB_SECRET_ARN   the secret's ARN (required)
#   AWS_REGION               default: the region in the ARN
#   WEBSTACK_FETCH_ATTEMPTS  default 5
set +x
set -euo pipefail
umask 077
export AWS_PAGER=""
me=${0##*/}

if [[ $# -ne 1 || $1 != /* ]]; then
	echo "usage: $me /absolute/path/of/OUTPUT" >&2
	exit 2
fi
output=$1
arn=${WEBSTACK_DB_SECRET_ARN:-}
if [[ -z $arn ]]; then
	echo "$me: WEBSTACK_DB_SECRET_ARN is not set" >&2
	exit 2
fi
region=${AWS_REGION:-}
if [[ -z $region && $arn == arn:*:secretsmanager:* ]]; then
	# arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME
	IFS=: read -r _ _ _ region _ <<<"$arn"
fi
if [[ -z $region ]]; then
	echo "$me: no region: set AWS_REGION or give a full secret ARN" >&2
	exit 2
fi
attempts=${WEBSTACK_FETCH_ATTEMPTS:-5}
if [[ ! $attempts =~ ^[1-9][0-9]*$ ]]; then
	echo "$me: WEBSTACK_FETCH_ATTEMPTS must be a positive number" >&2
	exit 2
fi

tmp=$(mktemp -- "$(dirname -- "$output")/.${output##*/}.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT

for ((attempt = 1; ; attempt++)); do
	if aws secretsmanager get-secret-value --region "$region" --secret-id "$arn" \
		--query SecretString --output text \
		--cli-connect-timeout 5 --cli-read-timeout 15 >"$tmp"; then
		break
	fi
	if ((attempt >= attempts)); then
		echo "$me: could not read $arn after $attempt attempt(s)" >&2
		exit 1
	fi
	sleep $((2 * attempt))
done

# A secret without SecretString (binary only) comes out as "None".
if [[ ! -s $tmp ]] || { [[ $(wc -c <"$tmp") -le 5 ]] && [[ $(<"$tmp") == None ]]; }; then
	echo "$me: $arn has no SecretString" >&2
	exit 1
fi
chmod 0600 -- "$tmp"
mv -f -- "$tmp" "$output"
trap - EXIT
echo "$me: wrote the secret $arn to $output"
`

// envKeyRe: an environment variable name.
var envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvFile renders an EnvironmentFile= file: one KEY="value" line per
// variable, sorted by name, values double-quoted with \, ", $ and `
// escaped. Use it for the service's EnvFile:
//
//	EnvFile(map[string]string{"WEBSTACK_LISTEN": ":8080", "WEBSTACK_HOST_NAME": "app-1"})
//
// and the secrets unit's SecretARNEnvFile:
//
//	EnvFile(map[string]string{"WEBSTACK_DB_SECRET_ARN": arn})
//
// Values may not contain newlines, carriage returns or NUL bytes.
func EnvFile(vars map[string]string) (string, error) {
	keys := make([]string, 0, len(vars))
	var p problems
	for k, v := range vars {
		keys = append(keys, k)
		if !envKeyRe.MatchString(k) {
			p.add("%q is not a variable name", k)
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			p.add("the value of %s contains a line break or NUL", k)
		}
	}
	sort.Strings(keys)
	sort.Strings(p)
	if err := p.err("environment file"); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# " + header + "\n")
	quote := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=\"%s\"\n", k, quote.Replace(vars[k]))
	}
	return b.String(), nil
}

func render(t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("appconf: %w", err)
	}
	return b.String(), nil
}
