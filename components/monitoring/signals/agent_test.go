package signals_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/santhosh-tekuri/jsonschema/v5"
)

// agentSchema is the CloudWatch agent's own schema of its configuration
// (testdata/README.md says where it comes from).
func agentSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile("testdata/amazon-cloudwatch-agent-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := jsonschema.CompileString("amazon-cloudwatch-agent-schema.json", string(raw))
	if err != nil {
		t.Fatalf("compiling the agent's schema: %v", err)
	}
	return s
}

func validate(s *jsonschema.Schema, doc string) error {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return err
	}
	return s.Validate(v)
}

// Every tier's rendered agent configuration is valid by the agent's own
// schema, ships exactly the tier's log files to the tier's group, and
// publishes the host metrics into the stack's namespace.
func TestAgentConfigMatchesTheAgentsSchema(t *testing.T) {
	schema := agentSchema(t)
	for _, tier := range signals.Tiers {
		cfg, err := signals.AgentConfig("webstack", "prod", tier, "webstack-prod-"+string(tier))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(schema, cfg); err != nil {
			t.Errorf("%s: the agent's schema refuses the rendered configuration: %v\n%s", tier, err, cfg)
		}
		var c struct {
			Metrics struct {
				Namespace string `json:"namespace"`
			} `json:"metrics"`
			Logs struct {
				LogsCollected struct {
					Files struct {
						CollectList []struct {
							FilePath     string `json:"file_path"`
							LogGroupName string `json:"log_group_name"`
						} `json:"collect_list"`
					} `json:"files"`
				} `json:"logs_collected"`
			} `json:"logs"`
		}
		if err := json.Unmarshal([]byte(cfg), &c); err != nil {
			t.Fatal(err)
		}
		if c.Metrics.Namespace != signals.Namespace("webstack", "prod") {
			t.Errorf("%s: namespace %q", tier, c.Metrics.Namespace)
		}
		var paths []string
		for _, f := range c.Logs.LogsCollected.Files.CollectList {
			paths = append(paths, f.FilePath)
			if f.LogGroupName != signals.LogGroupName("webstack", "prod", tier) {
				t.Errorf("%s: %s goes to %s", tier, f.FilePath, f.LogGroupName)
			}
		}
		var want []string
		for _, f := range signals.LogFiles[tier] {
			want = append(want, f.Path)
		}
		if strings.Join(paths, " ") != strings.Join(want, " ") {
			t.Errorf("%s ships %v, want %v", tier, paths, want)
		}
	}
	// The schema check can fail.
	for _, bad := range []string{
		`{"logs": {"logs_collected": {"files": {"collect_list": [{"log_group_name": "g"}]}}}}`, // no file_path
		`{"agent": {"metrics_collection_interval": "60"}}`,                                     // a string
		`{"metrics": {"metrics_collected": {"mem": {"measurement": "used_percent"}}}}`,         // not a list
	} {
		if err := validate(schema, bad); err == nil {
			t.Errorf("the schema accepted %s", bad)
		}
	}
	if _, err := signals.AgentConfig("webstack", "prod", "db", "g"); err == nil {
		t.Error("AgentConfig of a tier without logs: no error")
	}
}
