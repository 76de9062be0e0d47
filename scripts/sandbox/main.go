// Command sandbox runs the whole webstack diagram on this Linux machine,
// one network namespace per host, with the real HAProxy, keepalived, nginx,
// application and PostgreSQL, the load balancers, web and application
// servers as Auto Scaling groups (see package internal/sandbox). It needs
// root.
//
//	sandbox up          bring it up, print the URL, run until Ctrl-C, tear down
//	sandbox status      the groups' hosts and who holds the VIP (another terminal)
//	sandbox scale TIER N  set the web or app group's desired capacity, wait until stable
//	sandbox roll TIER   replace every host of lb, web or app (an instance refresh)
//	sandbox kill HOST   kill every process of a host (web3), wait for its replacement
//	sandbox down        stop the running sandbox of this name, remove what it left (also after a crash)
//	sandbox check       name the missing programs and their Debian packages
//	sandbox prepare     build the application and the agent (as you: no Go needed under sudo)
//
// make sandbox, make sandbox-down and make sandbox-deps run these.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
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
		app, agent, err := sandbox.Prepare(cfg)
		if err != nil {
			return err
		}
		fmt.Printf("sandbox: application built: %s\nsandbox: agent built: %s\n", app.Path, agent.Path)
		return nil
	case "status", "scale", "roll", "kill":
		return control(cfg, cmd, fs.Args())
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
	return fmt.Errorf("sandbox: unknown command %q (up, status, scale, roll, kill, down, check, prepare, packages)", cmd)
}

// control sends a command to the running sandbox.
func control(cfg sandbox.Config, cmd string, args []string) error {
	usage := map[string]string{"status": "sandbox status", "scale": "sandbox scale web|app N", "roll": "sandbox roll lb|web|app", "kill": "sandbox kill HOST"}[cmd]
	want := map[string]int{"status": 0, "scale": 2, "roll": 1, "kill": 1}[cmd]
	if len(args) != want {
		return fmt.Errorf("usage: %s (flags such as -name before the arguments)", usage)
	}
	method, q := "POST", url.Values{}
	switch cmd {
	case "status":
		method = "GET"
	case "scale":
		q.Set("tier", args[0])
		q.Set("desired", args[1])
	case "roll":
		q.Set("tier", args[0])
	case "kill":
		q.Set("host", args[0])
	}
	out, err := sandbox.Control(cfg, method, "/"+cmd, q)
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}

func up(cfg sandbox.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	s, err := sandbox.Up(ctx, cfg)
	if err != nil {
		return err
	}
	go func() {
		if err := s.ServeControl(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	fmt.Printf(`
webstack sandbox is up (%.1f s): %s
  the site (through the VIP, HAProxy, nginx, the app, PostgreSQL):
    curl -H 'Host: www.foobar.com' %s
  from another terminal (as root):
    sandbox status          the groups' hosts, and who holds the VIP (now %s)
    sandbox scale web 4     grow or shrink the web or app group
    sandbox roll app        replace every host of a group, one step at a time
    sandbox kill web1       kill a host; its group replaces it
  files and logs:   %s/<host>/ (terminated hosts in gone/)
  Ctrl-C (or make sandbox-down from another terminal) tears everything down.

`, time.Since(start).Seconds(), s.URL(), s.URL(), s.Master(), s.Config.StateDir)
	fmt.Print(s.Status())

	// Ctrl-C, sandbox down from another terminal (which sends SIGTERM), or
	// whatever removed the sandbox's bridge or state directory.
	for tick := time.NewTicker(time.Second); ctx.Err() == nil; {
		select {
		case <-ctx.Done():
		case <-tick.C:
			if !s.Intact() {
				fmt.Println("\nsandbox: its bridge or state directory is gone (removed from elsewhere): exiting")
				stop()
			}
		}
	}
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
