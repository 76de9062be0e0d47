package signals

import (
	"encoding/json"
	"fmt"
)

// The Amazon CloudWatch agent on every host (Amazon Linux 2023 package
// amazon-cloudwatch-agent) ships the tier's LogFiles to its log group and
// publishes the host metrics below. Its configuration is rendered here,
// from the same facts the metric filters and alarms read.
const (
	AgentPackage = "amazon-cloudwatch-agent"
	// AgentConfigFile is where the bundle installs the configuration;
	// AgentStart loads it and (re)starts the agent.
	AgentConfigFile = "/opt/aws/amazon-cloudwatch-agent/etc/webstack.json"
	AgentCtl        = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
)

// AgentStart is the bundle command that loads AgentConfigFile and
// (re)starts the agent (fetch-config replaces any earlier configuration).
// A host launched before the agent was among its packages (an upgraded
// stack, until its group's roll replaces it) has no agent: the command
// says so and the bundle goes on.
var AgentStart = "if [ -x " + AgentCtl + " ]; then " + AgentCtl + " -a fetch-config -m ec2 -s -c file:" + AgentConfigFile +
	"; else echo 'amazon-cloudwatch-agent is not installed on this host (launched before it was a package): logs not shipped until the group replaces it'; fi"

// Host metrics the agent publishes, per tier, in Namespace with the one
// dimension GroupDimension (the tier's Auto Scaling group): every host of
// the tier publishes into the same series, so Maximum is the fullest host.
const (
	GroupDimension  = "AutoScalingGroupName"
	HostMemory      = "mem_used_percent"
	HostDisk        = "disk_used_percent"
	HostConnections = "netstat_tcp_established"
	// HostDiskPath is the file system disk_used_percent measures.
	HostDiskPath = "/"
)

// HostMetrics are the agent's metrics, in the dashboard's order.
var HostMetrics = []string{HostMemory, HostDisk, HostConnections}

// AgentIntervalSeconds is how often the agent samples its metrics.
const AgentIntervalSeconds = 60

// AgentConfig renders the CloudWatch agent's configuration for one tier's
// hosts: its log files into the tier's log group, one stream per host and
// file, and the host metrics with the group as their only dimension.
func AgentConfig(project, stack string, tier Tier, group string) (string, error) {
	if group == "" {
		return "", fmt.Errorf("signals: AgentConfig of %s: the group name is required", tier)
	}
	files := LogFiles[tier]
	if len(files) == 0 {
		return "", fmt.Errorf("signals: AgentConfig: tier %q ships no logs; tiers are %v", tier, Tiers)
	}
	var collect []map[string]any
	for _, f := range files {
		collect = append(collect, map[string]any{
			"file_path":       f.Path,
			"log_group_name":  LogGroupName(project, stack, tier),
			"log_stream_name": "{instance_id}/" + f.Source,
			"timezone":        "UTC",
		})
	}
	dims := map[string]string{GroupDimension: group}
	cfg := map[string]any{
		"agent": map[string]any{
			"metrics_collection_interval": AgentIntervalSeconds,
			"omit_hostname":               true,
			"logfile":                     "/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log",
		},
		"metrics": map[string]any{
			"namespace": Namespace(project, stack),
			"metrics_collected": map[string]any{
				"mem":     map[string]any{"measurement": []string{"used_percent"}, "append_dimensions": dims},
				"disk":    map[string]any{"measurement": []string{"used_percent"}, "resources": []string{HostDiskPath}, "drop_device": true, "append_dimensions": dims},
				"netstat": map[string]any{"measurement": []string{"tcp_established"}, "append_dimensions": dims},
			},
			// disk adds path and fstype: the series the alarms read has
			// the group alone.
			"aggregation_dimensions": [][]string{{GroupDimension}},
		},
		"logs": map[string]any{
			"logs_collected":       map[string]any{"files": map[string]any{"collect_list": collect}},
			"force_flush_interval": 5,
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	return string(b), err
}
