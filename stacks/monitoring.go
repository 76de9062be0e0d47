package stacks

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Monitoring is webstack:monitoring: who is told when the site hurts, how
// long the hosts' logs are kept, and when each alarm fires
// (docs/MONITORING.md).
type Monitoring struct {
	// Enabled builds the alarm topic, the alarms, the external health
	// check, the log groups' metric filters and the dashboard. Only dev
	// may turn it off; the hosts still ship their logs.
	Enabled bool `json:"enabled" doc:"'false' in dev only: no alarm topic, alarms, health check, metric filters or dashboard (the hosts still ship their logs); see docs/MONITORING.md"`
	// Email addresses subscribed to the alarm topic (each confirms the
	// subscription AWS mails it). A prod stack's topic needs a subscriber
	// (guardrail WS052).
	Email []string `json:"email" doc:"email addresses subscribed to the alarm topic; each must confirm AWS’s mail. Prod’s topic needs a subscriber, here or in 'httpsEndpoints' (guardrail WS052)"`
	// HTTPSEndpoints are https:// URLs subscribed to the alarm topic (a
	// pager's or chat's webhook). They may carry a token: set the key as a
	// secret (pulumi config set --secret --path ...); the program handles
	// them as secrets.
	HTTPSEndpoints []string `json:"httpsEndpoints" doc:"'https://' URLs subscribed to the alarm topic (a pager’s or chat’s webhook); handled as secrets, and a bad one is reported without its value"`
	// LogRetentionDays is how long the tiers' log groups keep the hosts'
	// logs; one of the values CloudWatch accepts.
	LogRetentionDays int `json:"logRetentionDays" doc:"a CloudWatch Logs retention (as 'network.flowLogRetentionDays') for the tiers’ log groups (HAProxy, nginx, the application)"`
	// HealthCheck is the Route 53 health check of the public URL.
	HealthCheck HealthCheck `json:"healthCheck" doc:"the Route 53 health check of the public URL"`
	// Alarms are the thresholds, period and evaluation counts.
	Alarms Alarms `json:"alarms" doc:"when the alarms fire"`
}

// HealthCheck is the external check of the site, from Route 53's checkers.
type HealthCheck struct {
	// Path is requested on the site's address, e.g. "/".
	Path string `json:"path" doc:"a path starting with '/', at most 255 characters, no spaces, quotes, '?' or '#': what Route 53’s checkers request on the Elastic IP"`
	// SearchString must appear in the first 5120 bytes of the page; ""
	// checks the status only.
	SearchString string `json:"searchString" doc:"'\"\"': the status only; or at most 255 characters, no quotes or control characters, that the page must contain"`
	// IntervalSeconds is 10 or 30; FailureThreshold 1 to 10 failed checks
	// mark the site down.
	IntervalSeconds  int `json:"intervalSeconds" doc:"'10' or '30'"`
	FailureThreshold int `json:"failureThreshold" doc:"failed checks that mark the site down" range:"1,10"`
}

// Alarms are when the alarms fire: a metric beyond its threshold in
// DatapointsToAlarm of the last EvaluationPeriods periods of PeriodSeconds.
type Alarms struct {
	PeriodSeconds     int `json:"periodSeconds" doc:"a multiple of 60, 60 to 3600"`
	EvaluationPeriods int `json:"evaluationPeriods" doc:"periods looked at; 'periodSeconds' × 'evaluationPeriods' at most 86400" range:"1,60"`
	DatapointsToAlarm int `json:"datapointsToAlarm" doc:"1 to 'evaluationPeriods': an alarm fires when this many of the last 'evaluationPeriods' periods breach"`
	// ErrorRatePercent: 5xx answers, in percent of requests, at the load
	// balancers and at the application.
	ErrorRatePercent int `json:"errorRatePercent" doc:"5xx answers in percent of requests, at the load balancers and at the application" range:"1,100"`
	// LatencyP99Ms: the 99th percentile of the load balancers' total time.
	LatencyP99Ms int `json:"latencyP99Ms" doc:"milliseconds: the load balancers’ 99th percentile" range:"1,600000"`
	// CPUPercent: a tier's average CPU; MemoryPercent and DiskPercent:
	// the fullest host's memory and root disk use.
	CPUPercent    int `json:"cpuPercent" doc:"a tier’s average CPU" range:"1,100"`
	MemoryPercent int `json:"memoryPercent" doc:"the fullest host’s memory" range:"1,100"`
	DiskPercent   int `json:"diskPercent" doc:"the fullest host’s root disk" range:"1,100"`
	// The database's: CPU, free storage, freeable memory and connections.
	DatabaseCPUPercent     int `json:"databaseCpuPercent" doc:"the database’s CPU" range:"1,100"`
	DatabaseFreeStorageGiB int `json:"databaseFreeStorageGiB" doc:"1 to less than 'database.allocatedStorageGiB'"`
	DatabaseFreeMemoryMiB  int `json:"databaseFreeMemoryMiB" doc:"the database’s freeable memory" range:"1,1048576"`
	DatabaseConnections    int `json:"databaseConnections" doc:"set it below your engine’s 'max_connections'" range:"1,100000"`
}

// DefaultMonitoring is webstack:monitoring's default: on, production's
// thresholds, a quarter of logs.
func DefaultMonitoring() Monitoring {
	return Monitoring{
		Enabled:          true,
		Email:            []string{},
		HTTPSEndpoints:   []string{},
		LogRetentionDays: 90,
		HealthCheck:      HealthCheck{Path: "/", IntervalSeconds: 30, FailureThreshold: 3},
		Alarms: Alarms{
			PeriodSeconds: 60, EvaluationPeriods: 5, DatapointsToAlarm: 3,
			ErrorRatePercent: 5, LatencyP99Ms: 2000,
			CPUPercent: 85, MemoryPercent: 90, DiskPercent: 85,
			DatabaseCPUPercent: 85, DatabaseFreeStorageGiB: 2, DatabaseFreeMemoryMiB: 128,
			DatabaseConnections: 80,
		},
	}
}

var (
	emailRe      = regexp.MustCompile(`^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$`)
	searchTextRe = regexp.MustCompile(`^[^\x00-\x1f"]*$`)
)

// validateMonitoring checks webstack:monitoring, including its rules per
// environment.
func (s *Settings) validateMonitoring(v *validator) {
	m := s.Monitoring
	if !m.Enabled && s.Environment != Dev && s.Environment != "" {
		v.add("monitoring.enabled", m.Enabled, "only dev may turn monitoring off: %s must be told when the site hurts", s.Environment)
	}
	for i, e := range m.Email {
		if len(e) > 254 || !emailRe.MatchString(e) {
			v.add(fmt.Sprintf("monitoring.email[%d]", i), e, "must be an email address such as oncall@example.com")
		}
	}
	for i, e := range m.HTTPSEndpoints {
		key := fmt.Sprintf("monitoring.httpsEndpoints[%d]", i)
		u, err := url.Parse(e)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			// The value may carry a token: name the problem, not the URL.
			v.add(key, "(hidden: the URL may carry a token)", "must be an https:// URL with a host")
		}
	}
	if !slices.Contains(FlowLogRetentionValues, m.LogRetentionDays) {
		v.add("monitoring.logRetentionDays", m.LogRetentionDays, "must be one of %s (the retention periods CloudWatch Logs accepts)", joinInts(FlowLogRetentionValues))
	}
	h := m.HealthCheck
	if !strings.HasPrefix(h.Path, "/") || len(h.Path) > 255 || strings.ContainsAny(h.Path, " ?#\"") {
		v.add("monitoring.healthCheck.path", h.Path, "must be a path starting with /, at most 255 characters, without spaces, quotes, ? or #")
	}
	if len(h.SearchString) > 255 || !searchTextRe.MatchString(h.SearchString) {
		v.add("monitoring.healthCheck.searchString", h.SearchString, "must be at most 255 characters without quotes or control characters (\"\" checks the status only)")
	}
	if h.IntervalSeconds != 10 && h.IntervalSeconds != 30 {
		v.add("monitoring.healthCheck.intervalSeconds", h.IntervalSeconds, "must be 10 or 30 (the intervals Route 53 offers)")
	}
	if h.FailureThreshold < 1 || h.FailureThreshold > 10 {
		v.add("monitoring.healthCheck.failureThreshold", h.FailureThreshold, "must be 1 to 10")
	}
	a := m.Alarms
	if a.PeriodSeconds < 60 || a.PeriodSeconds%60 != 0 || a.PeriodSeconds > 3600 {
		v.add("monitoring.alarms.periodSeconds", a.PeriodSeconds, "must be a multiple of 60 from 60 to 3600 (the metrics are published once a minute)")
	}
	if a.EvaluationPeriods < 1 || a.EvaluationPeriods > 60 {
		v.add("monitoring.alarms.evaluationPeriods", a.EvaluationPeriods, "must be 1 to 60")
	} else if a.PeriodSeconds > 0 && a.PeriodSeconds*a.EvaluationPeriods > 86400 {
		v.add("monitoring.alarms.evaluationPeriods", a.EvaluationPeriods, "periodSeconds × evaluationPeriods must be at most 86400 (one day, CloudWatch's limit); with periodSeconds %d at most %d", a.PeriodSeconds, 86400/a.PeriodSeconds)
	}
	if a.DatapointsToAlarm < 1 || a.DatapointsToAlarm > a.EvaluationPeriods {
		v.add("monitoring.alarms.datapointsToAlarm", a.DatapointsToAlarm, "must be 1 to evaluationPeriods (%d)", a.EvaluationPeriods)
	}
	for _, p := range []struct {
		key      string
		val, max int
	}{
		{"errorRatePercent", a.ErrorRatePercent, 100}, {"cpuPercent", a.CPUPercent, 100},
		{"memoryPercent", a.MemoryPercent, 100}, {"diskPercent", a.DiskPercent, 100},
		{"databaseCpuPercent", a.DatabaseCPUPercent, 100}, {"latencyP99Ms", a.LatencyP99Ms, 600000},
		{"databaseFreeStorageGiB", a.DatabaseFreeStorageGiB, 65536}, {"databaseFreeMemoryMiB", a.DatabaseFreeMemoryMiB, 1 << 20},
		{"databaseConnections", a.DatabaseConnections, 100000},
	} {
		if p.val < 1 || p.val > p.max {
			v.add("monitoring.alarms."+p.key, p.val, "must be 1 to %d", p.max)
		}
	}
	if a.DatabaseFreeStorageGiB >= s.Database.AllocatedStorageGiB && s.Database.AllocatedStorageGiB > 0 {
		v.add("monitoring.alarms.databaseFreeStorageGiB", a.DatabaseFreeStorageGiB, "must be less than database.allocatedStorageGiB (%d): the alarm would fire on a new database", s.Database.AllocatedStorageGiB)
	}
}
