package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// controlSocket is where a running sandbox takes commands (sandbox scale,
// roll, kill, status): a Unix socket in its state directory, so only root
// can use it.
func controlSocket(cfg Config) string { return filepath.Join(cfg.StateDir, "control.sock") }

// ServeControl takes commands from other terminals (Control) until ctx
// ends: GET /status, POST /scale?tier=web&desired=4, POST /roll?tier=web,
// POST /kill?host=web3. Each answers once the group is stable again.
func (s *Sandbox) ServeControl(ctx context.Context) error {
	sock := controlSocket(s.Config)
	os.Remove(sock)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("sandbox: control socket: %w", err)
	}
	os.Chmod(sock, 0o600)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s.Status()) })
	mux.HandleFunc("POST /scale", func(w http.ResponseWriter, r *http.Request) {
		tier := r.URL.Query().Get("tier")
		n, err := strconv.Atoi(r.URL.Query().Get("desired"))
		if err != nil {
			http.Error(w, "sandbox: desired must be a number", http.StatusBadRequest)
			return
		}
		s.command(w, r, fmt.Sprintf("scale %s to %d", tier, n), func(ctx context.Context) error { return s.Scale(ctx, tier, n) })
	})
	mux.HandleFunc("POST /roll", func(w http.ResponseWriter, r *http.Request) {
		tier := r.URL.Query().Get("tier")
		s.command(w, r, "roll "+tier, func(ctx context.Context) error { return s.Roll(ctx, tier) })
	})
	mux.HandleFunc("POST /kill", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("host")
		s.command(w, r, "kill "+name, func(ctx context.Context) error {
			h, ok := s.Host(name)
			if !ok {
				return fmt.Errorf("%w: %s (sandbox status lists them)", errNoHost, name)
			}
			if err := s.KillHost(name); err != nil {
				return err
			}
			_, err := s.WaitReplaced(ctx, h, 3*time.Minute)
			return err
		})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// command runs one command for the control socket and answers with how
// long it took and the groups after it.
func (s *Sandbox) command(w http.ResponseWriter, r *http.Request, what string, f func(context.Context) error) {
	start := time.Now()
	if err := f(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	fmt.Fprintf(w, "sandbox: %s done in %.1f s\n%s", what, time.Since(start).Seconds(), s.Status())
}

// Status lists the groups' hosts: name, instance, zone, address, lifecycle
// state and health, and which load balancer holds the VIP.
func (s *Sandbox) Status() string {
	var b strings.Builder
	fmt.Fprintf(&b, "site %s (VIP on %s)\n", s.URL(), s.Master())
	for _, tier := range []string{"lb", "web", "app"} {
		group := GroupName(s.Config, tier)
		g, err := s.Cloud.DescribeGroup(context.Background(), group)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", group, err)
			continue
		}
		fmt.Fprintf(&b, "%s: desired %d (min %d, max %d)\n", group, g.DesiredCapacity, g.MinSize, g.MaxSize)
		names := map[string]string{}
		for _, h := range s.Hosts(tier) {
			names[h.InstanceID] = h.Name
		}
		for _, i := range s.Cloud.Instances(group) {
			fmt.Fprintf(&b, "  %-6s %s %s %-12s %s/%s\n", names[i.InstanceID], i.InstanceID, i.AvailabilityZone, i.PrivateIP, i.LifecycleState, i.HealthStatus)
		}
	}
	return b.String()
}

// Control sends a command to the sandbox running with cfg (see
// ServeControl) and returns its answer.
func Control(cfg Config, method, path string, query url.Values) (string, error) {
	cfg = cfg.withDefaults()
	sock := controlSocket(cfg)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequest(method, "http://sandbox"+path+"?"+query.Encode(), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("sandbox: no sandbox runs with state directory %s (make sandbox starts one): %w", cfg.StateDir, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(strings.TrimSpace(string(body)))
	}
	return string(body), nil
}
