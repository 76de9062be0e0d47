package fakeaws

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/foobar/webstack/internal/awsapi"
)

func TestMemorySetup(t *testing.T) {
	m := NewMemory()
	if err := m.AddInstance("nope", awsapi.Instance{InstanceID: "i-1"}, ""); err == nil {
		t.Error("an instance added to a group that does not exist")
	}
	m.AddGroup(web, 0, 3, 1)
	if err := m.AddInstance(web, awsapi.Instance{}, ""); err == nil {
		t.Error("an instance without an id added")
	}
	must(t, m.AddInstance(web, awsapi.Instance{InstanceID: "i-1", PrivateIP: "10.0.0.1"}, ""))
	if err := m.AddInstance(web, awsapi.Instance{InstanceID: "i-1"}, ""); err == nil {
		t.Error("an id added twice")
	}
	must(t, m.AddInstance("", awsapi.Instance{InstanceID: "i-lone", PrivateIP: "10.0.0.9"}, ""))
	if l, h, target, ok := m.InstanceState("i-1"); !ok || l != awsapi.InService || h != awsapi.Healthy || target != awsapi.InService {
		t.Errorf("defaults: %s %s %s %v", l, h, target, ok)
	}
	if id, ok := m.Identify("10.0.0.9"); !ok || id.InstanceID != "i-lone" || id.TargetLifecycleState != "" || id.Role != DefaultRole {
		t.Errorf("an instance in no group: %+v %v", id, ok)
	}
	if _, ok := m.Identify("10.0.0.2"); ok {
		t.Error("an unknown address identified")
	}
	for _, set := range []func() error{
		func() error { return m.SetState("i-x", awsapi.InService) },
		func() error { return m.SetTarget("i-x", "") },
		func() error { return m.SetHealth("i-x", awsapi.Healthy) },
		func() error { return m.SetRole("i-x", "") },
		func() error { return m.SetEC2State("i-x", "stopped") },
		func() error { return m.SetLaunchTemplateVersion("i-x", "1") },
		func() error { return m.MapIP("127.0.0.1", "i-x") },
		func() error { return m.SetRefresh(web, "nope", awsapi.RefreshFailed, 0) },
		func() error { return m.SetRefresh("nope", "nope", awsapi.RefreshFailed, 0) },
	} {
		if err := set(); err == nil {
			t.Error("a setter accepts an unknown instance, group or refresh")
		}
	}
	must(t, m.SetState("i-1", awsapi.Terminated))
	got, err := m.DescribeInstances(context.Background(), []string{"i-1", "i-1"})
	if err != nil || len(got) != 1 || got[0].State != "terminated" {
		t.Errorf("terminated instance: %+v %v", got, err)
	}
	if _, err := m.DescribeInstances(context.Background(), []string{"i-a", "i-b"}); err == nil || err.(*awsapi.APIError).Message != "The instance IDs 'i-a, i-b' do not exist" {
		t.Errorf("two unknown ids: %v", err)
	}
	m.ResetCalls()
	if len(m.Calls()) != 0 {
		t.Error("ResetCalls kept calls")
	}
}

// TestMemoryConcurrent is for the race detector.
func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory()
	m.AddGroup(web, 0, 100, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("i-%d", i)
			if err := m.AddInstance(web, awsapi.Instance{InstanceID: id, PrivateIP: fmt.Sprintf("10.0.0.%d", i)}, awsapi.PendingWait); err != nil {
				t.Error(err)
				return
			}
			_, _ = m.DescribeGroup(ctx, web)
			_ = m.RecordLifecycleActionHeartbeat(ctx, web, "h", id)
			if err := m.CompleteLifecycleAction(ctx, web, "h", id, awsapi.Continue); err != nil {
				t.Error(err)
			}
			_ = m.SetDesiredCapacity(ctx, web, i)
			_, _ = m.Identify(fmt.Sprintf("10.0.0.%d", i))
			_ = m.Calls()
		}()
	}
	wg.Wait()
	g, err := m.DescribeGroup(ctx, web)
	if err != nil || len(g.Instances) != 20 {
		t.Fatalf("%d instances, %v", len(g.Instances), err)
	}
	for _, i := range g.Instances {
		if i.LifecycleState != awsapi.InService {
			t.Errorf("%s: %s", i.InstanceID, i.LifecycleState)
		}
	}
	if n := len(m.CallsTo("CompleteLifecycleAction")); n != 20 {
		t.Errorf("%d completions recorded", n)
	}
}
