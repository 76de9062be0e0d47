// Command sandbox runs the whole webstack diagram on this Linux machine,
// one network namespace per host, with the real HAProxy, keepalived, nginx,
// application and PostgreSQL (see package internal/sandbox). It needs root.
//
//	sandbox up      bring it up, print the URL, run until Ctrl-C, tear down
//	sandbox down    remove everything a sandbox left (also after a crash)
//	sandbox check   name the missing programs and their Debian packages
//	sandbox prepare build the application (as you: no Go needed under sudo)
//
// make sandbox, make sandbox-down and make sandbox-deps run these.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/foobar/webstack/internal/sandbox"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cmd := "up"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("sandbox "+cmd, flag.ContinueOnError)
	var cfg sandbox.Config
	fs.IntVar(&cfg.Web, "web", 2, "web servers (1-9)")
	fs.IntVar(&cfg.App, "app", 2, "application servers (1-9)")
	fs.StringVar(&cfg.Subnet, "subnet", "10.77.0.0/24", "the sandbox's /24; the host gets .1")
	fs.StringVar(&cfg.Name, "name", "webstack", "prefix of the namespaces, links and bridge")
	fs.StringVar(&cfg.StateDir, "state", "", "directory for every file of the sandbox (default /run/<name>-sandbox)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Logf = func(format string, a ...any) {
		fmt.Printf("sandbox: "+format+"\n", a...)
	}

	switch cmd {
	case "check":
		if err := sandbox.Check(); err != nil {
			return err
		}
		fmt.Println("sandbox: everything it needs is installed")
		return nil
	case "prepare":
		a, err := sandbox.Prepare(cfg)
		if err != nil {
			return err
		}
		fmt.Printf("sandbox: application built: %s\n", a.Path)
		return nil
	case "packages":
		fmt.Println(strings.Join(sandbox.Packages(), " "))
		return nil
	case "down":
		if err := sandbox.Down(cfg); err != nil {
			return err
		}
		if left := sandbox.Leftovers(cfg); len(left) > 0 {
			return fmt.Errorf("sandbox: still there: %s", strings.Join(left, ", "))
		}
		fmt.Println("sandbox: nothing left")
		return nil
	case "up":
		return up(cfg)
	}
	return fmt.Errorf("sandbox: unknown command %q (up, down, check, prepare, packages)", cmd)
}

func up(cfg sandbox.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	s, err := sandbox.Up(ctx, cfg)
	if err != nil {
		return err
	}
	t := s.Topology
	fmt.Printf(`
webstack sandbox is up (%.1f s): %s
  the site (through the VIP, HAProxy on %s, nginx, the app, PostgreSQL):
    curl -H 'Host: www.foobar.com' %s
    sudo ip netns exec %s curl -s %s          # from the "internet"
  try a failover:   sudo ip netns pids %s   (then kill its haproxy; the VIP moves to the other one)
  hosts:            %s
  files and logs:   %s/<host>/
  Ctrl-C (or make sandbox-down from another terminal) tears everything down.
`, time.Since(start).Seconds(), s.URL(), s.Master(), s.URL(), client(t).NS(), s.URL(), master(s).NS(), hostList(t), s.Config.StateDir)

	<-ctx.Done()
	fmt.Println("\nsandbox: tearing down")
	if err := s.Down(); err != nil {
		return err
	}
	if left := sandbox.Leftovers(cfg); len(left) > 0 {
		return fmt.Errorf("sandbox: still there after teardown: %s", strings.Join(left, ", "))
	}
	fmt.Println("sandbox: nothing left")
	return nil
}

func hostList(t sandbox.Topology) string {
	var parts []string
	for _, h := range t.Hosts {
		parts = append(parts, h.Name+"="+h.IP)
	}
	return strings.Join(parts, " ") + " vip=" + t.VIP
}

func client(t sandbox.Topology) sandbox.Host {
	h, _ := t.Host("client")
	return h
}

func master(s *sandbox.Sandbox) sandbox.Host {
	h, _ := s.Topology.Host(s.Master())
	return h
}
