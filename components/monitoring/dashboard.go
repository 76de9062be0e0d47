package monitoring

import (
	"encoding/json"
	"fmt"

	"github.com/foobar/webstack/components/monitoring/signals"
)

// DashboardInputs is what the dashboard shows: the stack's namespace, its
// tiers' groups, its database, its health check and its alarms.
type DashboardInputs struct {
	Region, Namespace string
	Groups            map[signals.Tier]string
	DatabaseID        string
	HealthCheckID     string
	AlarmArns         []string
}

// tierRow is what a row of the dashboard shows for one tier: its counts,
// its errors and its latency metric (from signals.Metrics).
var tierRows = []struct {
	tier     signals.Tier
	title    string
	requests string
	errors   []string
	latency  string
}{
	{signals.LoadBalancer, "Load balancers (HAProxy)", signals.LBRequests, []string{signals.LB5xx, signals.LBNoServer, signals.LBTimeout}, signals.LBLatency},
	{signals.Web, "Web servers (nginx)", signals.WebRequests, []string{signals.Web5xx}, signals.WebLatency},
	{signals.App, "Application servers", signals.AppRequests, []string{signals.App5xx, signals.App503}, signals.AppLatency},
}

// Dashboard renders the dashboard's body: the site from outside and the
// alarms' states first, then a row per tier of the diagram (requests,
// errors, p50/p99 latency, saturation), then the database.
func Dashboard(in DashboardInputs) (string, error) {
	const w, h = 6, 6
	var widgets []map[string]any
	y := 0
	add := func(x int, title string, props map[string]any) {
		props["title"], props["region"] = title, in.Region
		widgets = append(widgets, map[string]any{"type": "metric", "x": x, "y": y, "width": w, "height": h, "properties": props})
	}
	ts := func(metrics [][]any, stat string) map[string]any {
		return map[string]any{"view": "timeSeries", "stat": stat, "period": 60, "metrics": metrics}
	}

	site := ts([][]any{{"AWS/Route53", "HealthCheckStatus", "HealthCheckId", in.HealthCheckID, map[string]any{"region": HealthCheckRegion}}}, "Minimum")
	add(0, "Site up from outside (Route 53, 1 = healthy)", site)
	widgets[len(widgets)-1]["properties"].(map[string]any)["region"] = HealthCheckRegion
	widgets = append(widgets, map[string]any{"type": "alarm", "x": w, "y": y, "width": 3 * w, "height": h,
		"properties": map[string]any{"title": "Alarms", "alarms": in.AlarmArns, "sortBy": "stateUpdatedTimestamp"}})
	y += h

	for _, r := range tierRows {
		group := in.Groups[r.tier]
		add(0, r.title+": requests", ts([][]any{{in.Namespace, r.requests}}, "Sum"))
		var errs [][]any
		for _, e := range r.errors {
			errs = append(errs, []any{in.Namespace, e})
		}
		add(w, r.title+": errors", ts(errs, "Sum"))
		add(2*w, r.title+": latency p50 / p99", ts([][]any{
			{in.Namespace, r.latency, map[string]any{"stat": "p50"}},
			{in.Namespace, r.latency, map[string]any{"stat": "p99"}},
		}, "p99"))
		add(3*w, r.title+": saturation (percent; connections)", ts([][]any{
			{"AWS/EC2", "CPUUtilization", signals.GroupDimension, group, map[string]any{"stat": "Average"}},
			{in.Namespace, signals.HostMemory, signals.GroupDimension, group},
			{in.Namespace, signals.HostDisk, signals.GroupDimension, group},
			{in.Namespace, signals.HostConnections, signals.GroupDimension, group, map[string]any{"yAxis": "right"}},
		}, "Maximum"))
		y += h
	}

	db := func(name, stat string) []any {
		return []any{"AWS/RDS", name, "DBInstanceIdentifier", in.DatabaseID, map[string]any{"stat": stat}}
	}
	add(0, "Database: connections", ts([][]any{db("DatabaseConnections", "Maximum")}, "Maximum"))
	add(w, "Database: CPU percent", ts([][]any{db("CPUUtilization", "Average")}, "Average"))
	add(2*w, "Database: free storage (bytes)", ts([][]any{db("FreeStorageSpace", "Minimum")}, "Minimum"))
	add(3*w, "Database: freeable memory (bytes)", ts([][]any{db("FreeableMemory", "Minimum")}, "Minimum"))

	b, err := json.Marshal(map[string]any{"widgets": widgets})
	if err != nil {
		return "", fmt.Errorf("monitoring: dashboard: %w", err)
	}
	return string(b), nil
}
