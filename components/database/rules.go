package database

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Problem is an argument the database's rules refuse: the Args field (its
// Go name, such as BackupWindow or Parameters[0].Name), the value, and
// what is allowed. New refuses a database with any; the settings map each
// field to the stack key that sets it, so that both say the same.
type Problem struct {
	Field   string
	Value   any
	Allowed string
}

// EngineVersions are the major versions whose parameter group family the
// component knows, per engine.
var EngineVersions = map[string][]string{
	Postgres: {"13", "14", "15", "16", "17"},
	MySQL:    {"8.0", "8.4"},
}

// Storage bounds of gp3 for PostgreSQL and MySQL, in GiB.
const (
	MinStorageGiB = 20
	MaxStorageGiB = 65536
)

var (
	classRe    = regexp.MustCompile(`^db\.[a-z0-9-]+\.[a-z0-9]+$`)
	identRe    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	snapshotRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
	timeRe     = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)
	dayTimeRe  = regexp.MustCompile(`^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):([0-5][0-9])$`)
)

// reservedNames are database names the engines keep for themselves.
var reservedNames = []string{"template0", "template1", "rdsadmin"}

// Problems reports every problem of the arguments' values, with the
// defaults New applies, in field order.
func (a Args) Problems() []Problem {
	a = a.withDefaults()
	var out []Problem
	bad := func(field string, value any, format string, args ...any) {
		out = append(out, Problem{Field: field, Value: value, Allowed: fmt.Sprintf(format, args...)})
	}
	versions, known := EngineVersions[a.Engine]
	switch {
	case !known:
		bad("Engine", a.Engine, "must be postgres or mysql")
	case !versionRe.MatchString(a.EngineVersion) || !slices.Contains(versions, MajorVersion(a.Engine, a.EngineVersion)):
		bad("EngineVersion", a.EngineVersion, "must be a %s major version: %s", a.Engine, strings.Join(versions, ", "))
	case MajorVersion(a.Engine, a.EngineVersion) != a.EngineVersion:
		bad("EngineVersion", a.EngineVersion, "must be the major version only (%s): AWS applies minor upgrades itself, and a full version would read as a downgrade after the first one", MajorVersion(a.Engine, a.EngineVersion))
	}
	if !classRe.MatchString(a.InstanceClass) {
		bad("InstanceClass", a.InstanceClass, "must be an RDS instance class of the form db.<family>.<size>, such as db.t4g.medium")
	}
	if a.AllocatedStorageGiB < MinStorageGiB || a.AllocatedStorageGiB > MaxStorageGiB {
		bad("AllocatedStorageGiB", a.AllocatedStorageGiB, "must be between %d and %d GiB (gp3 storage for %s)", MinStorageGiB, MaxStorageGiB, a.Engine)
	}
	if m := a.MaxAllocatedStorageGiB; m != 0 {
		least := (a.AllocatedStorageGiB*110 + 99) / 100 // 10 % more, rounded up
		if m < least || m > MaxStorageGiB {
			bad("MaxAllocatedStorageGiB", m, "must be 0 (no autoscaling) or between %d (10%% above the allocated storage) and %d", least, MaxStorageGiB)
		}
	}
	if !slices.Contains(LogRetentionValues, a.LogRetentionDays) {
		days := make([]string, len(LogRetentionValues))
		for i, d := range LogRetentionValues {
			days[i] = strconv.Itoa(d)
		}
		bad("LogRetentionDays", a.LogRetentionDays, "must be one of %s (the values CloudWatch Logs accepts)", strings.Join(days, ", "))
	}
	if a.BackupRetentionDays < 0 || a.BackupRetentionDays > 35 {
		bad("BackupRetentionDays", a.BackupRetentionDays, "must be between 0 (no backups) and 35")
	}
	// Empty windows are AWS's choice; given ones must parse and not overlap.
	backup, okB := parseWindow(a.BackupWindow, false)
	if a.BackupWindow != "" && !okB {
		bad("BackupWindow", a.BackupWindow, "must be hh24:mi-hh24:mi in UTC, at least 30 minutes long, such as 03:00-04:00")
	}
	maint, okM := parseWindow(a.MaintenanceWindow, true)
	if a.MaintenanceWindow != "" && !okM {
		bad("MaintenanceWindow", a.MaintenanceWindow, "must be ddd:hh24:mi-ddd:hh24:mi in UTC, at least 30 minutes long, such as sun:04:30-sun:05:30")
	}
	if okB && okM && backupOverlaps(backup, maint) {
		bad("MaintenanceWindow", a.MaintenanceWindow, "must not overlap the daily backup window %s", a.BackupWindow)
	}
	if p := a.FinalSnapshotPrefix; !a.SkipFinalSnapshot && (len(p) < 1 || len(p) > 246 || !snapshotRe.MatchString(p) || strings.Contains(p, "--") || strings.HasSuffix(p, "-")) {
		bad("FinalSnapshotPrefix", p, "must be 1 to 246 letters, digits or hyphens, start with a letter, with no two hyphens in a row and no hyphen at the end (RDS snapshot identifier rules; the component appends -<random>)")
	}
	maxName, maxUser := 63, 63
	if a.Engine == MySQL {
		maxName, maxUser = 64, 32
	}
	if !identRe.MatchString(a.Name) || len(a.Name) > maxName || slices.Contains(reservedNames, a.Name) {
		bad("Name", a.Name, "must be 1 to %d letters, digits or underscores, start with a letter, and not be a reserved name (%s)", maxName, strings.Join(reservedNames, ", "))
	}
	if !identRe.MatchString(a.Username) || len(a.Username) > maxUser || strings.HasPrefix(strings.ToLower(a.Username), "rds") {
		bad("Username", a.Username, "must be 1 to %d letters, digits or underscores, start with a letter, and not start with rds", maxUser)
	} else if reserved := ReservedUsernames[a.Engine]; slices.Contains(reserved, strings.ToLower(a.Username)) {
		bad("Username", a.Username, "is reserved by %s (RDS refuses it as master user): not %s", a.Engine, strings.Join(reserved, ", "))
	}
	if a.Port != DefaultPort(a.Engine) && (a.Port < 1150 || a.Port > 65535) {
		bad("Port", a.Port, "must be the engine's default (%d) or between 1150 and 65535", DefaultPort(a.Engine))
	}
	tlsName, _ := TLSParameter(a.Engine)
	seen := map[string]bool{}
	for i, p := range a.Parameters {
		field := fmt.Sprintf("Parameters[%d]", i)
		switch {
		case !parameterNameRe.MatchString(p.Name):
			bad(field+".Name", p.Name, "must be an engine parameter name (letters, digits, _ . -)")
		case strings.EqualFold(p.Name, tlsName):
			bad(field+".Name", p.Name, "the component sets it to force TLS; it cannot be overridden")
		case seen[strings.ToLower(p.Name)]:
			bad(field+".Name", p.Name, "given twice")
		}
		seen[strings.ToLower(p.Name)] = true
		if p.ApplyMethod != "" && p.ApplyMethod != "immediate" && p.ApplyMethod != "pending-reboot" {
			bad(field+".ApplyMethod", p.ApplyMethod, "must be immediate or pending-reboot")
		}
	}
	return out
}

// window is a span of minutes, of the week (maintenance) or day (backup).
type window struct{ start, end int }

func parseWindow(s string, weekly bool) (window, bool) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return window{}, false
	}
	a, okA := parseMoment(from, weekly)
	b, okB := parseMoment(to, weekly)
	if !okA || !okB {
		return window{}, false
	}
	period := 24 * 60
	if weekly {
		period *= 7
	}
	if b <= a {
		b += period
	}
	return window{a, b}, b-a >= 30
}

func parseMoment(s string, weekly bool) (int, bool) {
	days := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	if weekly {
		m := dayTimeRe.FindStringSubmatch(s)
		if m == nil {
			return 0, false
		}
		h, _ := strconv.Atoi(m[2])
		mi, _ := strconv.Atoi(m[3])
		return slices.Index(days, m[1])*24*60 + h*60 + mi, true
	}
	m := timeRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return h*60 + mi, true
}

// backupOverlaps reports whether a daily backup window overlaps a weekly
// maintenance window.
func backupOverlaps(backup, maint window) bool {
	const day, week = 24 * 60, 7 * 24 * 60
	for d := -1; d <= 7; d++ {
		b := window{backup.start + d*day, backup.end + d*day}
		for _, shift := range []int{0, week, -week} {
			m := window{maint.start + shift, maint.end + shift}
			if b.start < m.end && m.start < b.end {
				return true
			}
		}
	}
	return false
}
