// Command bench measures webstack and prints what it finds (make bench runs
// both parts in one go):
//
//	bench program    the Pulumi program under mocks, per stack (time/op,
//	                 allocs/op, memory), and the unit-test suite's wall time
//	                 with a warm build cache
//	bench dataplane  (root) a sandbox of its own: requests/s and latency at
//	                 64 connections through the rendered configs, the
//	                 connections opened to each tier, what upstream
//	                 keep-alive buys, and the failover, node-loss and
//	                 database-restart timings
//
// docs/BENCHMARKS.md explains each number and records the latest ones.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"time"
)

func main() {
	part := "program"
	if len(os.Args) > 1 {
		part = os.Args[1]
	}
	var err error
	switch part {
	case "program":
		err = program()
	case "dataplane":
		err = dataplane(context.Background(), os.Args[2:])
	default:
		err = fmt.Errorf("bench: unknown part %q (program, dataplane)", part)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); m != nil {
			cpu = string(m[1])
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s+(\d+) kB`).FindSubmatch(b); m != nil {
			kb, _ := strconv.Atoi(string(m[1]))
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/1024/1024)
		}
	}
	return fmt.Sprintf("%d × %s%s, %s/%s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// program benchmarks infra.Program and times the unit-test suite.
func program() error {
	fmt.Printf("== The program under mocks, per stack (%s)\n", machine())
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "BenchmarkProgram", "-benchmem", "-count", "1", "./infra/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`BenchmarkProgram/(\w+)-\d+\s+\d+\s+(\d+) ns/op.*?([\d.]+) maxRSS-MB\s+([\d.]+) peak-heap-MB\s+([\d.]+) resources\s+(\d+) B/op\s+(\d+) allocs/op`)
	fmt.Printf("%-8s %10s %12s %14s %12s %10s %10s\n", "stack", "time/op", "allocs/op", "allocated/op", "peak heap", "max RSS", "resources")
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		ns, _ := strconv.ParseFloat(m[2], 64)
		bytes, _ := strconv.ParseFloat(m[6], 64)
		fmt.Printf("%-8s %8.1f ms %12s %11.1f MB %9s MB %7s MB %10s\n", m[1], ns/1e6, m[7], bytes/1e6, m[4], m[3], m[5])
	}

	fmt.Println("\n== The unit-test suite, warm build cache (go test -count=1 ./..., end-to-end tests off)")
	suite := func() (time.Duration, error) {
		start := time.Now()
		cmd := exec.Command("go", "test", "-count=1", "./...")
		cmd.Env = append(os.Environ(), "WEBSTACK_E2E=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("go test ./...: %v\n%s", err, out)
		}
		return time.Since(start), nil
	}
	if _, err := suite(); err != nil { // warms the build cache
		return err
	}
	d, err := suite()
	if err != nil {
		return err
	}
	fmt.Printf("wall time: %.1f s\n", d.Seconds())
	return nil
}

// stat formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
