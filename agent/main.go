// Command webstack-agent runs beside the service of every host of a
// webstack Auto Scaling group: readiness (the launch lifecycle hook),
// discovery of the hosts behind it, health, and drain on termination. See
// package internal/hostagent.
//
//	webstack-agent [-config /etc/webstack/agent.json]
//
// It logs one line per event to stdout ("agent: …") and stops cleanly on
// SIGTERM or SIGINT. The AWS endpoints can be overridden as package
// internal/awsapi describes (the sandbox points them at its fake).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
	"github.com/foobar/webstack/internal/hostagent"
)

func main() {
	configPath := flag.String("config", hostagent.ConfigPath, "the agent's configuration (JSON)")
	flag.Parse()
	logger := log.New(os.Stdout, "agent: ", 0)
	if flag.NArg() > 0 {
		logger.Printf("unexpected arguments %q; usage: webstack-agent [-config %s]", flag.Args(), hostagent.ConfigPath)
		os.Exit(2)
	}
	cfg, err := hostagent.LoadConfig(*configPath)
	if err != nil {
		logger.Printf("%v", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	md := awsapi.NewMetadata()
	region, err := findRegion(ctx, cfg, md, logger)
	if err != nil {
		logger.Printf("stopped before starting: %v", err)
		return
	}
	client := awsapi.NewClient(region, md)
	agent := hostagent.New(cfg, client, client, md, hostagent.WithLogger(logger))
	if err := agent.Run(ctx); err != nil {
		logger.Printf("%v", err)
		os.Exit(1)
	}
}

// findRegion is the configuration's region, else $AWS_REGION or
// $AWS_DEFAULT_REGION, else the instance's own (from its availability
// zone), asked until the metadata service answers or ctx is done.
func findRegion(ctx context.Context, cfg hostagent.Config, md awsapi.InstanceMetadata, logger *log.Logger) (string, error) {
	for _, r := range []string{cfg.Region, os.Getenv(awsapi.EnvRegion), os.Getenv(awsapi.EnvDefaultRegion)} {
		if r != "" {
			return r, nil
		}
	}
	interval := cfg.Interval.D()
	var last string
	for {
		az, err := md.AvailabilityZone(ctx)
		if err == nil {
			if r := regionOf(az); r != "" {
				logger.Printf("region %s (from availability zone %s)", r, az)
				return r, nil
			}
			err = fmt.Errorf("cannot tell the region of availability zone %q", az)
		}
		if err.Error() != last {
			logger.Printf("no region in the configuration, and none from the metadata service (retrying): %v", err)
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return "", errors.New("no region")
		case <-time.After(interval):
		}
	}
}

// zoneRegion matches the region at the start of a zone's name: eu-west-1
// in eu-west-1a, us-west-2 in the Local Zone us-west-2-lax-1a.
var zoneRegion = regexp.MustCompile(`^([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+)`)

// regionOf is the region of an availability zone, "" if unknown.
func regionOf(az string) string {
	m := zoneRegion.FindStringSubmatch(az)
	if m == nil {
		return ""
	}
	return m[1]
}
