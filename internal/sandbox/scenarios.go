package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/foobar/webstack/internal/asg"
)

// Get fetches a path of the site through the VIP, as a client would.
func (s *Sandbox) Get(c *http.Client, path string) (int, http.Header, string, error) {
	req, _ := http.NewRequest(http.MethodGet, s.URL()+strings.TrimPrefix(path, "/"), nil)
	req.Host = s.Config.SiteName
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// Result is one request of a load run.
type Result struct {
	At      time.Time
	Latency time.Duration
	Status  int
	Err     error
}

// OK reports whether the request succeeded (200).
func (r Result) OK() bool { return r.Err == nil && r.Status == http.StatusOK }

// Load sends GETs of path through the VIP from several clients, each
// request on a new connection, until stop is closed.
func (s *Sandbox) Load(path string, clients int, stop <-chan struct{}) []Result {
	c := s.Client(false, 5*time.Second)
	var mu sync.Mutex
	var out []Result
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				status, _, _, err := s.Get(c, path)
				mu.Lock()
				out = append(out, Result{start, time.Since(start), status, err})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// Stats summarises a set of requests.
type Stats struct {
	Requests, Failed int
	P50, P99, Max    time.Duration
	FirstError       string
	// Failures are the failed requests.
	Failures []Result
}

// Summarize computes Stats.
func Summarize(rs []Result) Stats {
	st := Stats{Requests: len(rs)}
	lat := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		if !r.OK() {
			st.Failed++
			if st.FirstError == "" {
				st.FirstError = fmt.Sprintf("status %d, %v", r.Status, r.Err)
			}
			st.Failures = append(st.Failures, r)
		}
		lat = append(lat, r.Latency)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		st.P50, st.P99, st.Max = lat[n/2], lat[n*99/100], lat[n-1]
	}
	return st
}

func (st Stats) String() string {
	return fmt.Sprintf("%d requests, %d failed, p50 %v, p99 %v, max %v", st.Requests, st.Failed,
		st.P50.Round(time.Millisecond), st.P99.Round(time.Millisecond), st.Max.Round(time.Millisecond))
}

// End is when the request finished (or failed).
func (r Result) End() time.Time { return r.At.Add(r.Latency) }

// Disruption is a steady load around one action (a scaling step, a roll,
// a crash), every request counted: Before are those that ended before the
// action began, During those that ended while it ran (so a request in
// flight when a process dies counts here), After those that ended after
// it. Total is all of them.
type Disruption struct {
	Action                       string
	Took                         time.Duration
	Before, During, After, Total Stats
}

func (d Disruption) String() string {
	return fmt.Sprintf("%s took %v; before: %v; during: %v; after: %v", d.Action, d.Took.Round(100*time.Millisecond), d.Before, d.During, d.After)
}

// UnderLoad runs a steady load of GET / from clients (a new connection per
// request), runs action once the load has run for a second, keeps the
// load a second after it returned, and sorts every request by when it
// ended.
func (s *Sandbox) UnderLoad(name string, clients int, action func() error) (Disruption, error) {
	stop := make(chan struct{})
	done := make(chan []Result)
	go func() { done <- s.Load("/", clients, stop) }()
	time.Sleep(time.Second)
	began := time.Now()
	err := action()
	ended := time.Now()
	time.Sleep(time.Second)
	close(stop)
	rs := <-done
	d := Disruption{Action: name, Took: ended.Sub(began)}
	var before, during, after []Result
	for _, r := range rs {
		switch end := r.End(); {
		case end.Before(began):
			before = append(before, r)
		case !end.After(ended):
			during = append(during, r)
		default:
			after = append(after, r)
		}
	}
	d.Before, d.During, d.After, d.Total = Summarize(before), Summarize(during), Summarize(after), Summarize(rs)
	return d, err
}

// Host finds a group host that runs now by name.
func (s *Sandbox) Host(name string) (Host, bool) {
	for _, t := range []string{"lb", "web", "app"} {
		for _, h := range s.Hosts(t) {
			if h.Name == name {
				return h, true
			}
		}
	}
	return Host{}, false
}

// WaitReplaced waits until a group host's instance has left its group and
// the group is stable again with a replacement in service; it returns the
// replacement's name (the newest host in service).
func (s *Sandbox) WaitReplaced(ctx context.Context, h Host, timeout time.Duration) (string, error) {
	name := h.Name
	deadline := time.Now().Add(timeout)
	group := GroupName(s.Config, h.Tier)
	for {
		gone := true
		for _, i := range s.Cloud.Instances(group) {
			gone = gone && i.InstanceID != h.InstanceID
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("sandbox: %s (%s) still in %s after %s; recent events:\n%s", name, h.InstanceID, group, timeout, s.recentEvents(group, 15))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := s.WaitStable(ctx, h.Tier, time.Until(deadline)); err != nil {
		return "", err
	}
	in := s.InService(h.Tier)
	if len(in) == 0 || in[len(in)-1].Name == name || !hostLess(name, in[len(in)-1].Name) {
		return "", fmt.Errorf("sandbox: %s left %s but no newer host is in service", name, group)
	}
	return in[len(in)-1].Name, nil
}

// NeverHealthy is what a host that never gets ready cost.
type NeverHealthy struct {
	Disruption
	// Abandoned are the faulty hosts whose launch the group abandoned, and
	// Listed those the tier in front listed at any moment (it must never).
	Abandoned, Listed []string
}

// MeasureNeverHealthy raises a tier's desired capacity by one under load
// while its next hosts' service never starts: their agents never complete
// the launch hook, the group abandons them after Timing.ReadyWithin and
// launches again. Meanwhile it reads the files of the tier in front every
// 100 ms: a host that never got ready must never appear there. Once one
// launch was abandoned it lets the next launch succeed and waits until the
// group is stable.
func (s *Sandbox) MeasureNeverHealthy(ctx context.Context, tier string, clients int) (NeverHealthy, error) {
	var r NeverHealthy
	group := GroupName(s.Config, tier)
	g, err := s.Cloud.DescribeGroup(ctx, group)
	if err != nil {
		return r, err
	}
	var seq int
	if ev := s.Cloud.Events(); len(ev) > 0 {
		seq = ev[len(ev)-1].Seq
	}
	s.SetFault(tier, NoService)
	defer s.SetFault(tier, NoFault)
	r.Disruption, err = s.UnderLoad(fmt.Sprintf("%s %d→%d, the new host never ready", tier, g.DesiredCapacity, g.DesiredCapacity+1), clients, func() error {
		if err := s.Cloud.SetDesiredCapacity(ctx, group, g.DesiredCapacity+1); err != nil {
			return err
		}
		faulty := map[string]string{} // ip → name
		listed := map[string]bool{}
		deadline := time.Now().Add(s.Config.Timing.ReadyWithin + time.Minute)
		for len(r.Abandoned) == 0 {
			for _, h := range s.Hosts(tier) {
				if s.faulty(h) {
					faulty[h.IP] = h.Name
				}
			}
			for _, f := range s.frontFiles(tier) {
				b, _ := os.ReadFile(f)
				for ip, name := range faulty {
					if strings.Contains(string(b), ip+":") && !listed[name] {
						listed[name] = true
						r.Listed = append(r.Listed, name)
					}
				}
			}
			for _, e := range s.Cloud.Events() {
				if e.Seq > seq && e.Group == group && e.Kind == asg.EventAbandoned {
					r.Abandoned = append(r.Abandoned, e.InstanceID)
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("sandbox: no launch of %s abandoned within %s; recent events:\n%s", group, time.Until(deadline), s.recentEvents(group, 15))
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.SetFault(tier, NoFault)
		return s.WaitStable(ctx, tier, 2*time.Minute)
	})
	return r, err
}

// frontFiles are the files where the tier in front lists a tier's hosts:
// the load balancers' HAProxy backend, the web servers' nginx servers.
func (s *Sandbox) frontFiles(tier string) []string {
	var out []string
	switch tier {
	case "web":
		for _, h := range s.Hosts("lb") {
			out = append(out, filepath.Join(s.HostDir(h.Name), "conf.d", "be_web.cfg"))
		}
	case "app":
		for _, h := range s.Hosts("web") {
			out = append(out, filepath.Join(s.HostDir(h.Name), "app-servers.conf"))
		}
	}
	return out
}

// DBRestart is what a database restart cost.
type DBRestart struct {
	// Acked is how many writes were acknowledged before the restart, and
	// Lost how many of them could not be read back after it.
	Acked, Lost int
	// First503 is how soon the site answered 503 once the database stopped,
	// Recovered how soon it answered 200 again once it was back.
	First503, Recovered time.Duration
	// AppsSurvived is false if an application server died meanwhile.
	AppsSurvived bool
}

// MeasureDBRestart writes visits, stops PostgreSQL, waits for the site to
// answer 503, starts PostgreSQL and times the recovery.
func (s *Sandbox) MeasureDBRestart(ctx context.Context) (DBRestart, error) {
	c := s.Client(false, 5*time.Second)
	var r DBRestart
	var acked []int
	for i := 0; i < 20; i++ {
		status, _, body, err := s.Get(c, "/api/visit")
		var v struct{ ID int }
		if err != nil || status != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil {
			return r, fmt.Errorf("GET /api/visit = %d %v %s", status, err, body)
		}
		acked = append(acked, v.ID)
	}
	r.Acked = len(acked)
	if err := s.Stop("db/postgres"); err != nil {
		return r, err
	}
	down := time.Now()
	for time.Since(down) < 10*time.Second {
		if status, _, _, _ := s.Get(c, "/"); status == http.StatusServiceUnavailable {
			r.First503 = time.Since(down)
			break
		}
	}
	r.AppsSurvived = true
	for _, a := range s.Hosts("app") {
		r.AppsSurvived = r.AppsSurvived && s.Running(a.Name+"/app")
	}
	if err := s.Start(ctx, "db/postgres"); err != nil {
		return r, err
	}
	back := time.Now()
	for time.Since(back) < 10*time.Second {
		if status, _, _, _ := s.Get(c, "/"); status == http.StatusOK {
			r.Recovered = time.Since(back)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range acked {
		if status, _, _, err := s.Get(c, fmt.Sprintf("/api/visits/%d", id)); err != nil || status != http.StatusOK {
			r.Lost++
		}
	}
	return r, nil
}

// Failover is what losing the MASTER load balancer's HAProxy cost.
type Failover struct {
	From, To string
	// Gap is from stopping the MASTER's HAProxy until requests succeed
	// through the new MASTER.
	Gap time.Duration
	// Replacement is the load balancer the group launched in place of
	// From (whose agent marked it unhealthy), Replaced how long after the
	// stop the pair was whole again.
	Replacement string
	Replaced    time.Duration
	// StayedOnNewMaster is true if the VIP stayed on the new MASTER when
	// the replacement joined (nopreempt).
	StayedOnNewMaster bool
}

// MeasureFailover stops the MASTER's HAProxy, times until requests succeed
// through the other node, waits until the group has replaced the broken
// node (its agent's health check marks it unhealthy) and checks that the
// VIP stayed put.
func (s *Sandbox) MeasureFailover(ctx context.Context) (Failover, error) {
	f := Failover{From: s.Master()}
	from, ok := s.Host(f.From)
	if !ok {
		return f, fmt.Errorf("no load balancer holds the VIP")
	}
	c := s.Client(false, 300*time.Millisecond)
	if err := s.Stop(f.From + "/haproxy"); err != nil {
		return f, err
	}
	stopped := time.Now()
	for time.Since(stopped) < 15*time.Second {
		if m := s.Master(); m != "" && m != f.From {
			if status, _, _, err := s.Get(c, "/healthz"); err == nil && status == http.StatusOK {
				f.Gap, f.To = time.Since(stopped), m
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f.To == "" {
		return f, fmt.Errorf("no failover within 15 s (VIP on %q)", s.Master())
	}
	var err error
	if f.Replacement, err = s.WaitReplaced(ctx, from, 2*time.Minute); err != nil {
		return f, err
	}
	f.Replaced = time.Since(stopped)
	time.Sleep(2 * time.Second)
	f.StayedOnNewMaster = s.Master() == f.To
	return f, nil
}
