package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
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

// NodeLoss is what losing one daemon under load cost.
type NodeLoss struct {
	Daemon        string
	Before, After Stats
}

// MeasureNodeLoss runs a steady load of GET / from clients, kills a daemon
// (SIGKILL, as if its host died) after 2 s, keeps the load 4 s more, and
// starts the daemon again.
func (s *Sandbox) MeasureNodeLoss(ctx context.Context, id string, clients int) (NodeLoss, error) {
	stop := make(chan struct{})
	done := make(chan []Result)
	go func() { done <- s.Load("/", clients, stop) }()
	time.Sleep(2 * time.Second)
	err := s.Kill(id)
	killed := time.Now()
	time.Sleep(4 * time.Second)
	close(stop)
	rs := <-done
	if err != nil {
		return NodeLoss{}, err
	}
	var before, after []Result
	for _, r := range rs {
		if r.At.Before(killed) {
			before = append(before, r)
		} else {
			after = append(after, r)
		}
	}
	return NodeLoss{Daemon: id, Before: Summarize(before), After: Summarize(after)}, s.Start(ctx, id)
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
	for _, a := range s.Topology.Tier("app") {
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
	// During is the steady load (one client) across the failover.
	During Stats
	// StayedAfterRecovery is true if the VIP stayed on the new MASTER once
	// the old one's HAProxy was back (nopreempt).
	StayedAfterRecovery bool
}

// MeasureFailover stops the MASTER's HAProxy under a steady load, times
// until requests succeed through the other node, starts it again and
// checks that the VIP stays put.
func (s *Sandbox) MeasureFailover(ctx context.Context) (Failover, error) {
	f := Failover{From: s.Master()}
	if f.From == "" {
		return f, fmt.Errorf("no load balancer holds the VIP")
	}
	c := s.Client(false, 2*time.Second)
	stop := make(chan struct{})
	done := make(chan []Result)
	go func() { done <- s.Load("/healthz", 1, stop) }()
	time.Sleep(time.Second)
	if err := s.Stop(f.From + "/haproxy"); err != nil {
		close(stop)
		<-done
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
	time.Sleep(500 * time.Millisecond)
	close(stop)
	f.During = Summarize(<-done)
	if f.To == "" {
		return f, fmt.Errorf("no failover within 15 s (VIP on %q)", s.Master())
	}
	if err := s.Start(ctx, f.From+"/haproxy"); err != nil {
		return f, err
	}
	time.Sleep(4 * time.Second)
	f.StayedAfterRecovery = s.Master() == f.To
	return f, nil
}
