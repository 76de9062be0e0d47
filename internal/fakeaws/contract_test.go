package fakeaws

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

// The contract between awsapi's real clients and this fake: every method
// of awsapi.Client and awsapi.Metadata against Handler(Memory), over HTTP,
// signed with the role credentials the fake metadata service hands out
// (and that the fake verifies).

const (
	web = "webstack-prod-web"
	app = "webstack-prod-app"
)

type world struct {
	mem *Memory
	h   *handler
	srv *httptest.Server
	c   *awsapi.Client
	md  *awsapi.Metadata
}

// newWorld is a Memory with two groups (web: i-web1 InService, i-web2
// Pending:Wait and answering the metadata of 127.0.0.1; app: i-app1),
// served over HTTP, and clients of it configured through the environment
// as the sandbox configures its hosts.
func newWorld(t *testing.T) *world {
	t.Helper()
	mem := NewMemory()
	mem.AddGroup(web, 2, 4, 2)
	mem.AddGroup(app, 1, 3, 1)
	must(t, mem.AddInstance(web, awsapi.Instance{InstanceID: "i-web1", PrivateIP: "10.77.0.11", AvailabilityZone: "us-east-1a"}, awsapi.InService))
	must(t, mem.AddInstance(web, awsapi.Instance{InstanceID: "i-web2", PrivateIP: "10.77.0.12", AvailabilityZone: "us-east-1b"}, awsapi.PendingWait))
	must(t, mem.AddInstance(app, awsapi.Instance{InstanceID: "i-app1", PrivateIP: "10.77.0.21", AvailabilityZone: "us-east-1a"}, awsapi.InService))
	must(t, mem.SetLaunchTemplateVersion("i-web1", "3"))
	must(t, mem.MapIP("127.0.0.1", "i-web2"))
	h := Handler(mem).(*handler)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_ENDPOINT_URL_AUTO_SCALING", srv.URL+"/autoscaling")
	t.Setenv("AWS_ENDPOINT_URL_EC2", srv.URL+"/ec2")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL+"/")
	md := awsapi.NewMetadata()
	return &world{mem: mem, h: h, srv: srv, c: awsapi.NewClient("us-east-1", md), md: md}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// apiError is the APIError err wraps; it fails the test if there is none
// or its code is not code.
func apiError(t *testing.T, err error, code string) *awsapi.APIError {
	t.Helper()
	var e *awsapi.APIError
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want an APIError %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
	return e
}

func TestContractAutoScaling(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.c

	g, err := c.DescribeGroup(ctx, web)
	must(t, err)
	want := awsapi.Group{Name: web, MinSize: 2, MaxSize: 4, DesiredCapacity: 2, Instances: []awsapi.GroupInstance{
		{InstanceID: "i-web1", AvailabilityZone: "us-east-1a", LifecycleState: awsapi.InService, HealthStatus: awsapi.Healthy, LaunchTemplateVersion: "3"},
		{InstanceID: "i-web2", AvailabilityZone: "us-east-1b", LifecycleState: awsapi.PendingWait, HealthStatus: awsapi.Healthy},
	}}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("DescribeGroup\n%+v\nwant\n%+v", g, want)
	}

	_, err = c.DescribeGroup(ctx, "webstack-prod-nope")
	apiError(t, err, "ValidationError")

	// Launch hook: CONTINUE puts the instance in service; a second
	// completion finds no active action.
	must(t, c.RecordLifecycleActionHeartbeat(ctx, web, "webstack-prod-web-launch", "i-web2"))
	must(t, c.CompleteLifecycleAction(ctx, web, "webstack-prod-web-launch", "i-web2", awsapi.Continue))
	if l, _, target, _ := w.mem.InstanceState("i-web2"); l != awsapi.InService || target != awsapi.InService {
		t.Errorf("after CONTINUE: %s, target %s", l, target)
	}
	err = c.CompleteLifecycleAction(ctx, web, "webstack-prod-web-launch", "i-web2", awsapi.Continue)
	e := apiError(t, err, "ValidationError")
	if e.StatusCode != 400 || !strings.Contains(e.Message, "No active Lifecycle Action found with instance ID i-web2") {
		t.Errorf("second completion: %+v", e)
	}
	apiError(t, c.RecordLifecycleActionHeartbeat(ctx, web, "webstack-prod-web-launch", "i-web2"), "ValidationError")
	apiError(t, c.CompleteLifecycleAction(ctx, "webstack-prod-nope", "h", "i-web2", awsapi.Continue), "ValidationError")
	must(t, w.mem.SetState("i-web1", awsapi.PendingWait))
	apiError(t, c.CompleteLifecycleAction(ctx, web, "h", "i-web1", "MAYBE"), "ValidationError")
	must(t, c.CompleteLifecycleAction(ctx, web, "webstack-prod-web-launch", "i-web1", awsapi.Abandon))
	if l, _, target, _ := w.mem.InstanceState("i-web1"); l != awsapi.Terminated || target != awsapi.Terminated {
		t.Errorf("after ABANDON: %s, target %s", l, target)
	}

	// Terminate hook.
	must(t, w.mem.SetState("i-web2", awsapi.TerminatingWait))
	must(t, c.CompleteLifecycleAction(ctx, web, "webstack-prod-web-terminate", "i-web2", awsapi.Continue))
	g, err = c.DescribeGroup(ctx, web)
	must(t, err)
	if len(g.Instances) != 0 {
		t.Errorf("terminated instances still listed: %+v", g.Instances)
	}

	// Health.
	must(t, c.SetInstanceHealth(ctx, "i-app1", awsapi.Unhealthy, true))
	if _, health, _, _ := w.mem.InstanceState("i-app1"); health != awsapi.Unhealthy {
		t.Errorf("health %s", health)
	}
	apiError(t, c.SetInstanceHealth(ctx, "i-nope", awsapi.Unhealthy, false), "ValidationError")
	apiError(t, c.SetInstanceHealth(ctx, "i-app1", "Sick", false), "ValidationError")

	// Capacity.
	must(t, c.SetDesiredCapacity(ctx, app, 3))
	apiError(t, c.SetDesiredCapacity(ctx, app, 4), "ValidationError")
	apiError(t, c.SetDesiredCapacity(ctx, "webstack-prod-nope", 1), "ValidationError")
	if g, _ := c.DescribeGroup(ctx, app); g.DesiredCapacity != 3 {
		t.Errorf("desired capacity %d, want 3", g.DesiredCapacity)
	}

	// Refreshes.
	id, err := c.StartInstanceRefresh(ctx, app, 90, 110)
	must(t, err)
	_, err = c.StartInstanceRefresh(ctx, app, 90, 110)
	apiError(t, err, "InstanceRefreshInProgress")
	_, err = c.StartInstanceRefresh(ctx, web, 90, 300)
	apiError(t, err, "ValidationError")
	must(t, w.mem.SetRefresh(app, id, awsapi.RefreshSuccessful, 100))
	id2, err := c.StartInstanceRefresh(ctx, app, 100, 0)
	must(t, err)
	must(t, w.mem.SetRefresh(app, id2, awsapi.RefreshInProgress, 40))
	refreshes, err := c.DescribeInstanceRefreshes(ctx, app)
	must(t, err)
	wantRefreshes := []awsapi.InstanceRefresh{
		{ID: id2, Status: awsapi.RefreshInProgress, PercentageComplete: 40},
		{ID: id, Status: awsapi.RefreshSuccessful, PercentageComplete: 100},
	}
	if !reflect.DeepEqual(refreshes, wantRefreshes) {
		t.Errorf("refreshes\n%+v\nwant\n%+v", refreshes, wantRefreshes)
	}
	_, err = c.DescribeInstanceRefreshes(ctx, "webstack-prod-nope")
	apiError(t, err, "ValidationError")

	wantCalls := []string{
		"DescribeAutoScalingGroups webstack-prod-web",
		"DescribeAutoScalingGroups webstack-prod-nope",
		"RecordLifecycleActionHeartbeat webstack-prod-web webstack-prod-web-launch i-web2",
		"CompleteLifecycleAction webstack-prod-web webstack-prod-web-launch i-web2 CONTINUE",
		"CompleteLifecycleAction webstack-prod-web webstack-prod-web-launch i-web2 CONTINUE",
		"RecordLifecycleActionHeartbeat webstack-prod-web webstack-prod-web-launch i-web2",
		"CompleteLifecycleAction webstack-prod-nope h i-web2 CONTINUE",
		"CompleteLifecycleAction webstack-prod-web h i-web1 MAYBE",
		"CompleteLifecycleAction webstack-prod-web webstack-prod-web-launch i-web1 ABANDON",
		"CompleteLifecycleAction webstack-prod-web webstack-prod-web-terminate i-web2 CONTINUE",
		"DescribeAutoScalingGroups webstack-prod-web",
		"SetInstanceHealth i-app1 Unhealthy true",
		"SetInstanceHealth i-nope Unhealthy false",
		"SetInstanceHealth i-app1 Sick false",
		"SetDesiredCapacity webstack-prod-app 3",
		"SetDesiredCapacity webstack-prod-app 4",
		"SetDesiredCapacity webstack-prod-nope 1",
		"DescribeAutoScalingGroups webstack-prod-app",
		"StartInstanceRefresh webstack-prod-app 90 110",
		"StartInstanceRefresh webstack-prod-app 90 110",
		"StartInstanceRefresh webstack-prod-web 90 300",
		"StartInstanceRefresh webstack-prod-app 100 0",
		"DescribeInstanceRefreshes webstack-prod-app",
		"DescribeInstanceRefreshes webstack-prod-nope",
	}
	if got := w.mem.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCalls, "\n"))
	}
	if got := w.mem.CallsTo("SetDesiredCapacity"); len(got) != 3 {
		t.Errorf("CallsTo(SetDesiredCapacity): %v", got)
	}
}

func TestContractEC2(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	got, err := w.c.DescribeInstances(ctx, []string{"i-web2", "i-app1"})
	must(t, err)
	want := []awsapi.Instance{
		{InstanceID: "i-web2", PrivateIP: "10.77.0.12", AvailabilityZone: "us-east-1b", State: "running"},
		{InstanceID: "i-app1", PrivateIP: "10.77.0.21", AvailabilityZone: "us-east-1a", State: "running"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DescribeInstances\n%+v\nwant\n%+v", got, want)
	}
	_, err = w.c.DescribeInstances(ctx, []string{"i-web1", "i-gone"})
	e := apiError(t, err, "InvalidInstanceID.NotFound")
	if e.StatusCode != 400 || !strings.Contains(e.Message, "i-gone") {
		t.Errorf("%+v", e)
	}
	_, err = w.c.DescribeInstances(ctx, []string{"web1"})
	apiError(t, err, "InvalidInstanceID.Malformed")
	if got := w.mem.CallsTo("DescribeInstances"); !reflect.DeepEqual(got, []string{
		"DescribeInstances i-web2 i-app1", "DescribeInstances i-web1 i-gone", "DescribeInstances web1",
	}) {
		t.Errorf("calls %q", got)
	}
}

// TestContractCloudErrors: an APIError of the Cloud keeps its code and
// status (a throttled one is retried by the client); any other error is a
// 400 ValidationError (InvalidParameterValue for EC2).
func TestContractCloudErrors(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()

	w.mem.SetError("SetDesiredCapacity", errors.New("the sandbox is shutting down"))
	e := apiError(t, w.c.SetDesiredCapacity(ctx, web, 3), "ValidationError")
	if e.StatusCode != 400 || e.Message != "the sandbox is shutting down" {
		t.Errorf("%+v", e)
	}

	w.mem.SetError("DescribeInstances", errors.New("no"))
	_, err := w.c.DescribeInstances(ctx, []string{"i-web1"})
	apiError(t, err, "InvalidParameterValue")

	w.mem.SetError("DescribeAutoScalingGroups", &awsapi.APIError{Code: "Throttling", Message: "Rate exceeded", StatusCode: 400})
	_, err = w.c.DescribeGroup(ctx, web)
	apiError(t, err, "Throttling")
	if n := len(w.mem.CallsTo("DescribeAutoScalingGroups")); n != 4 {
		t.Errorf("throttled DescribeAutoScalingGroups asked %d times, want 4 (3 retries)", n)
	}

	w.mem.SetError("CompleteLifecycleAction", &awsapi.APIError{Code: "InternalFailure", Message: "oops", StatusCode: 500})
	e = apiError(t, w.c.CompleteLifecycleAction(ctx, web, "h", "i-web2", awsapi.Continue), "InternalFailure")
	if e.StatusCode != 500 {
		t.Errorf("status %d, want 500", e.StatusCode)
	}

	w.mem.SetError("DescribeAutoScalingGroups", nil)
	if _, err := w.c.DescribeGroup(ctx, web); err != nil {
		t.Errorf("after SetError(nil): %v", err)
	}
}

func TestContractMetadata(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	md := w.md

	id, err := md.InstanceID(ctx)
	must(t, err)
	az, err := md.AvailabilityZone(ctx)
	must(t, err)
	target, err := md.TargetLifecycleState(ctx)
	must(t, err)
	if id != "i-web2" || az != "us-east-1b" || target != awsapi.InService {
		t.Errorf("metadata %s %s %s, want i-web2 us-east-1b InService", id, az, target)
	}

	must(t, w.mem.SetState("i-web2", awsapi.TerminatingWait))
	if target, err := md.TargetLifecycleState(ctx); err != nil || target != awsapi.Terminated {
		t.Errorf("target while terminating: %q, %v", target, err)
	}
	must(t, w.mem.SetTarget("i-web2", ""))
	if target, err := md.TargetLifecycleState(ctx); err != nil || target != "" {
		t.Errorf("no target: %q, %v", target, err)
	}

	creds, err := md.Credentials(ctx)
	must(t, err)
	if creds.AccessKeyID != AccessKeyID || creds.SecretAccessKey != SecretAccessKey || creds.SessionToken != SessionToken {
		t.Errorf("credentials %+v", creds)
	}
	if d := time.Until(creds.Expires); d < 55*time.Minute || d > 61*time.Minute {
		t.Errorf("credentials expire in %v, want an hour", d)
	}

	// Tokens the fake forgets are renewed by the client.
	w.h.expireTokens()
	if id, err := md.InstanceID(ctx); err != nil || id != "i-web2" {
		t.Errorf("after the tokens expired: %q, %v", id, err)
	}

	// No role: no credentials, and so no API call.
	must(t, w.mem.SetRole("i-web2", ""))
	if _, err := md.Credentials(ctx); err == nil {
		t.Error("credentials without a role")
	}
	c := awsapi.NewClient("us-east-1", md)
	if _, err := c.DescribeGroup(ctx, web); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("API call without a role: %v", err)
	}

	// An address no instance has.
	other := NewMemory()
	srv := httptest.NewServer(Handler(other))
	defer srv.Close()
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)
	_, err = awsapi.NewMetadata().InstanceID(ctx)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown address: %v, want a 404", err)
	}
}

// TestContractEnvCredentials: credentials from the environment (not the
// fake's) are accepted, unverified.
func TestContractEnvCredentials(t *testing.T) {
	newWorld(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTESTENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "whatever")
	c := awsapi.NewClient("eu-west-1", nil)
	if _, err := c.DescribeGroup(context.Background(), web); err != nil {
		t.Fatal(err)
	}
	// The fake's own key with another secret is refused.
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKeyID)
	c = awsapi.NewClient("eu-west-1", nil)
	_, err := c.DescribeGroup(context.Background(), web)
	e := apiError(t, err, "SignatureDoesNotMatch")
	if e.StatusCode != http.StatusForbidden {
		t.Errorf("status %d, want 403", e.StatusCode)
	}
}
