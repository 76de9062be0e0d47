package stacks_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/stacks"
)

// Every bad monitoring value is named with its key, its value and what is
// allowed, all at once; only dev may turn monitoring off; an HTTPS
// endpoint (which may carry a token) is never echoed.
func TestMonitoringValidation(t *testing.T) {
	bad := `{"email": ["not-an-address"], "httpsEndpoints": ["http://hooks.example.com/T0KEN-SECRET"],
		"logRetentionDays": 10,
		"healthCheck": {"path": "health", "searchString": "a\"b", "intervalSeconds": 20, "failureThreshold": 0},
		"alarms": {"periodSeconds": 90, "evaluationPeriods": 0, "datapointsToAlarm": 2, "errorRatePercent": 0,
		"cpuPercent": 101, "databaseFreeStorageGiB": 20}}`
	_, err := stacks.FromConfig("webstack", "dev", "us-east-1", lookup(map[string]string{"monitoring": bad}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`webstack:monitoring.email[0] = "not-an-address": must be an email address`,
		`webstack:monitoring.httpsEndpoints[0] = "(hidden: the URL may carry a token)": must be an https:// URL`,
		`webstack:monitoring.logRetentionDays = 10: must be one of 1, 3, 5, 7, 14`,
		`webstack:monitoring.healthCheck.path = "health": must be a path starting with /`,
		`webstack:monitoring.healthCheck.searchString = "a\"b": must be at most 255 characters without quotes`,
		`webstack:monitoring.healthCheck.intervalSeconds = 20: must be 10 or 30`,
		`webstack:monitoring.healthCheck.failureThreshold = 0: must be 1 to 10`,
		`webstack:monitoring.alarms.periodSeconds = 90: must be a multiple of 60`,
		`webstack:monitoring.alarms.evaluationPeriods = 0: must be 1 to 60`,
		`webstack:monitoring.alarms.datapointsToAlarm = 2: must be 1 to evaluationPeriods (0)`,
		`webstack:monitoring.alarms.errorRatePercent = 0: must be 1 to 100`,
		`webstack:monitoring.alarms.cpuPercent = 101: must be 1 to 100`,
		`webstack:monitoring.alarms.databaseFreeStorageGiB = 20: must be less than database.allocatedStorageGiB (20)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "T0KEN-SECRET") {
		t.Errorf("the HTTPS endpoint's token is in the message:\n%v", err)
	}

	long := `{"alarms": {"periodSeconds": 3600, "evaluationPeriods": 25}}`
	_, err = stacks.FromConfig("webstack", "dev", "us-east-1", lookup(map[string]string{"monitoring": long}))
	if err == nil || !strings.Contains(err.Error(), "at most 86400 (one day, CloudWatch's limit); with periodSeconds 3600 at most 24") {
		t.Errorf("25 hours of evaluation: %v", err)
	}

	for _, c := range []struct {
		stack string
		ok    bool
	}{{"dev", true}, {"staging", false}, {"prod", false}} {
		_, err := stacks.FromConfig("webstack", c.stack, "us-east-1", lookup(map[string]string{"monitoring": `{"enabled": false}`}))
		refused := err != nil && strings.Contains(err.Error(), "webstack:monitoring.enabled = false: only dev may turn monitoring off")
		if refused == c.ok {
			t.Errorf("%s with monitoring off: %v", c.stack, err)
		}
	}

	s, err := stacks.FromConfig("webstack", "prod", "us-east-1", lookup(map[string]string{"monitoring": `{"email": ["oncall@foobar.com"], "alarms": {"cpuPercent": 70}}`}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Monitoring.Alarms.CPUPercent != 70 || s.Monitoring.Alarms.LatencyP99Ms != 2000 || !s.Monitoring.Enabled {
		t.Errorf("merged with the defaults: %+v", s.Monitoring)
	}
}
