package awsapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// Realistic answers, after the samples of the API references.

const describeGroupsAnswer = `<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>
      <member>
        <HealthCheckType>ELB</HealthCheckType>
        <LoadBalancerNames/>
        <TargetGroupARNs>
          <member>arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067</member>
        </TargetGroupARNs>
        <Instances>
          <member>
            <LaunchTemplate>
              <LaunchTemplateName>webstack-prod-web</LaunchTemplateName>
              <LaunchTemplateId>lt-0a20c965061f64abc</LaunchTemplateId>
              <Version>7</Version>
            </LaunchTemplate>
            <HealthStatus>Healthy</HealthStatus>
            <AvailabilityZone>us-east-1a</AvailabilityZone>
            <InstanceId>i-0b22a22eec53b9321</InstanceId>
            <InstanceType>t3.micro</InstanceType>
            <LifecycleState>InService</LifecycleState>
            <ProtectedFromScaleIn>false</ProtectedFromScaleIn>
          </member>
          <member>
            <LaunchTemplate>
              <LaunchTemplateName>webstack-prod-web</LaunchTemplateName>
              <LaunchTemplateId>lt-0a20c965061f64abc</LaunchTemplateId>
              <Version>8</Version>
            </LaunchTemplate>
            <HealthStatus>Unhealthy</HealthStatus>
            <AvailabilityZone>us-east-1b</AvailabilityZone>
            <InstanceId>i-0c3f1e8b2d4a5f678</InstanceId>
            <InstanceType>t3.micro</InstanceType>
            <LifecycleState>Pending:Wait</LifecycleState>
            <ProtectedFromScaleIn>false</ProtectedFromScaleIn>
          </member>
        </Instances>
        <TerminationPolicies>
          <member>Default</member>
        </TerminationPolicies>
        <DefaultCooldown>300</DefaultCooldown>
        <AutoScalingGroupARN>arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:930d940e-891e-4781-a11a-7b0acd480f03:autoScalingGroupName/webstack-prod-web</AutoScalingGroupARN>
        <EnabledMetrics/>
        <AvailabilityZones>
          <member>us-east-1a</member>
          <member>us-east-1b</member>
        </AvailabilityZones>
        <Tags>
          <member>
            <ResourceId>webstack-prod-web</ResourceId>
            <PropagateAtLaunch>true</PropagateAtLaunch>
            <Value>prod</Value>
            <Key>webstack:env</Key>
            <ResourceType>auto-scaling-group</ResourceType>
          </member>
        </Tags>
        <LaunchTemplate>
          <LaunchTemplateName>webstack-prod-web</LaunchTemplateName>
          <LaunchTemplateId>lt-0a20c965061f64abc</LaunchTemplateId>
          <Version>$Latest</Version>
        </LaunchTemplate>
        <AutoScalingGroupName>webstack-prod-web</AutoScalingGroupName>
        <DesiredCapacity>2</DesiredCapacity>
        <CreatedTime>2024-05-06T17:47:15.107Z</CreatedTime>
        <MinSize>2</MinSize>
        <MaxSize>4</MaxSize>
        <HealthCheckGracePeriod>300</HealthCheckGracePeriod>
        <NewInstancesProtectedFromScaleIn>false</NewInstancesProtectedFromScaleIn>
        <SuspendedProcesses/>
        <VPCZoneIdentifier>subnet-057fa0918fEXAMPLE,subnet-610acd08EXAMPLE</VPCZoneIdentifier>
        <ServiceLinkedRoleARN>arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling</ServiceLinkedRoleARN>
        <TrafficSources>
          <member>
            <Identifier>arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067</Identifier>
            <Type>elbv2</Type>
          </member>
        </TrafficSources>
      </member>
    </AutoScalingGroups>
  </DescribeAutoScalingGroupsResult>
  <ResponseMetadata>
    <RequestId>0f02a07d-b677-11e2-9eb0-dd50EXAMPLE</RequestId>
  </ResponseMetadata>
</DescribeAutoScalingGroupsResponse>`

const describeNoGroupAnswer = `<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups/>
  </DescribeAutoScalingGroupsResult>
  <ResponseMetadata>
    <RequestId>8e5d0c24-b677-11e2-9eb0-dd50EXAMPLE</RequestId>
  </ResponseMetadata>
</DescribeAutoScalingGroupsResponse>`

const describeInstancesAnswer = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
    <reservationSet>
        <item>
            <reservationId>r-1234567890abcdef0</reservationId>
            <ownerId>123456789012</ownerId>
            <groupSet/>
            <instancesSet>
                <item>
                    <instanceId>i-0b22a22eec53b9321</instanceId>
                    <imageId>ami-bff32ccc</imageId>
                    <instanceState>
                        <code>16</code>
                        <name>running</name>
                    </instanceState>
                    <privateDnsName>ip-10-0-1-88.ec2.internal</privateDnsName>
                    <dnsName/>
                    <reason/>
                    <amiLaunchIndex>0</amiLaunchIndex>
                    <productCodes/>
                    <instanceType>t3.micro</instanceType>
                    <launchTime>2024-05-08T16:46:19.000Z</launchTime>
                    <placement>
                        <availabilityZone>us-east-1a</availabilityZone>
                        <groupName/>
                        <tenancy>default</tenancy>
                    </placement>
                    <monitoring>
                        <state>disabled</state>
                    </monitoring>
                    <subnetId>subnet-057fa0918fEXAMPLE</subnetId>
                    <vpcId>vpc-11112222</vpcId>
                    <privateIpAddress>10.0.1.88</privateIpAddress>
                    <sourceDestCheck>true</sourceDestCheck>
                    <groupSet>
                        <item>
                            <groupId>sg-e4076980</groupId>
                            <groupName>webstack-prod-web</groupName>
                        </item>
                    </groupSet>
                    <architecture>x86_64</architecture>
                    <rootDeviceType>ebs</rootDeviceType>
                    <rootDeviceName>/dev/xvda</rootDeviceName>
                    <blockDeviceMapping>
                        <item>
                            <deviceName>/dev/xvda</deviceName>
                            <ebs>
                                <volumeId>vol-1234567890abcdef0</volumeId>
                                <status>attached</status>
                                <attachTime>2024-05-08T16:46:20.000Z</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                            </ebs>
                        </item>
                    </blockDeviceMapping>
                    <virtualizationType>hvm</virtualizationType>
                    <clientToken/>
                    <tagSet>
                        <item>
                            <key>aws:autoscaling:groupName</key>
                            <value>webstack-prod-web</value>
                        </item>
                    </tagSet>
                    <hypervisor>xen</hypervisor>
                    <networkInterfaceSet>
                        <item>
                            <networkInterfaceId>eni-551ba033</networkInterfaceId>
                            <subnetId>subnet-057fa0918fEXAMPLE</subnetId>
                            <vpcId>vpc-11112222</vpcId>
                            <description/>
                            <ownerId>123456789012</ownerId>
                            <status>in-use</status>
                            <macAddress>02:dd:2c:5e:01:69</macAddress>
                            <privateIpAddress>10.0.1.88</privateIpAddress>
                            <privateDnsName>ip-10-0-1-88.ec2.internal</privateDnsName>
                            <sourceDestCheck>true</sourceDestCheck>
                            <privateIpAddressesSet>
                                <item>
                                    <privateIpAddress>10.0.1.88</privateIpAddress>
                                    <privateDnsName>ip-10-0-1-88.ec2.internal</privateDnsName>
                                    <primary>true</primary>
                                </item>
                            </privateIpAddressesSet>
                        </item>
                    </networkInterfaceSet>
                    <ebsOptimized>false</ebsOptimized>
                    <enaSupport>true</enaSupport>
                    <metadataOptions>
                        <state>applied</state>
                        <httpTokens>required</httpTokens>
                        <httpPutResponseHopLimit>1</httpPutResponseHopLimit>
                        <httpEndpoint>enabled</httpEndpoint>
                        <instanceMetadataTags>disabled</instanceMetadataTags>
                    </metadataOptions>
                </item>
            </instancesSet>
        </item>
        <item>
            <reservationId>r-0fedcba0987654321</reservationId>
            <ownerId>123456789012</ownerId>
            <groupSet/>
            <instancesSet>
                <item>
                    <instanceId>i-0c3f1e8b2d4a5f678</instanceId>
                    <imageId>ami-bff32ccc</imageId>
                    <instanceState>
                        <code>48</code>
                        <name>terminated</name>
                    </instanceState>
                    <privateDnsName/>
                    <dnsName/>
                    <reason>User initiated (2024-05-08 17:01:02 GMT)</reason>
                    <instanceType>t3.micro</instanceType>
                    <placement>
                        <availabilityZone>us-east-1b</availabilityZone>
                        <groupName/>
                        <tenancy>default</tenancy>
                    </placement>
                    <groupSet/>
                    <networkInterfaceSet/>
                </item>
            </instancesSet>
        </item>
    </reservationSet>
</DescribeInstancesResponse>`

const asgValidationError = `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <Error>
    <Type>Sender</Type>
    <Code>ValidationError</Code>
    <Message>No active Lifecycle Action found with instance ID i-0b22a22eec53b9321</Message>
  </Error>
  <RequestId>a5c1e5f0-b677-11e2-9eb0-dd50EXAMPLE</RequestId>
</ErrorResponse>`

const asgThrottled = `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <Error>
    <Type>Sender</Type>
    <Code>Throttling</Code>
    <Message>Rate exceeded</Message>
  </Error>
  <RequestId>b6d2f6a1-b677-11e2-9eb0-dd50EXAMPLE</RequestId>
</ErrorResponse>`

const ec2NotFound = `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1a2b3c4d' does not exist</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`

const ec2Throttled = `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fb077201-f9aa-478e-9ede-example</RequestID></Response>`

// received is one request as the fake API received it.
type received struct {
	method, path string
	header       http.Header
	form         url.Values
	request      *http.Request
	body         []byte
}

// answer is what the fake API answers one request.
type answer struct {
	status int
	body   string
}

// api is a fake AWS API that records requests and answers them with
// respond (called with the request's index).
type api struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int, r received) answer
}

func newAPI(t *testing.T, respond func(n int, r received) answer) *api {
	t.Helper()
	a := &api{respond: respond}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("request body %q is no form: %v", body, err)
		}
		rec := received{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), form: form, request: r, body: body}
		a.mu.Lock()
		n := len(a.reqs)
		a.reqs = append(a.reqs, rec)
		a.mu.Unlock()
		ans := a.respond(n, rec)
		if ans.status == 0 {
			ans.status = http.StatusOK
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(ans.status)
		io.WriteString(w, ans.body)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *api) requests() []received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]received(nil), a.reqs...)
}

// cleanEnv unsets the variables the clients read.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{EnvEndpointAutoScaling, EnvEndpointEC2, EnvEndpoint, EnvAccessKeyID, EnvSecretAccessKey,
		EnvSessionToken, EnvRegion, EnvDefaultRegion, EnvMetadataEndpoint} {
		t.Setenv(v, "")
	}
}

// newTestClient is a client of a, with static credentials (and a session
// token if token is set), retrying without waiting.
func newTestClient(t *testing.T, a *api, token string) *Client {
	t.Helper()
	cleanEnv(t)
	t.Setenv(EnvEndpointAutoScaling, a.URL+"/autoscaling")
	t.Setenv(EnvEndpointEC2, a.URL+"/ec2")
	t.Setenv(EnvAccessKeyID, exampleKeyID)
	t.Setenv(EnvSecretAccessKey, exampleSecret)
	t.Setenv(EnvSessionToken, token)
	c := NewClient("us-east-1", nil)
	c.backoff = time.Millisecond
	return c
}

// checkQuery checks a Query request: method, path, content type,
// signature (with the reference implementation) and scope, and the form.
func checkQuery(t *testing.T, r received, path, service, version string, want url.Values) {
	t.Helper()
	if r.method != http.MethodPost || r.path != path {
		t.Errorf("%s %s, want POST %s", r.method, r.path, path)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	r.request.Header = r.header
	scope := verifySigned(t, r.request, r.body, exampleKeyID, exampleSecret)
	if scope[2] != "us-east-1" || scope[3] != service {
		t.Errorf("credential scope %v, want region us-east-1, service %s", scope, service)
	}
	if !strings.HasPrefix(string(r.body), "Action=") {
		t.Errorf("body %q does not start with Action=", r.body)
	}
	want.Set("Version", version)
	if !reflect.DeepEqual(r.form, want) {
		t.Errorf("form\n%v\nwant\n%v", r.form, want)
	}
}

func TestDescribeGroup(t *testing.T) {
	a := newAPI(t, func(int, received) answer { return answer{body: describeGroupsAnswer} })
	c := newTestClient(t, a, "")
	g, err := c.DescribeGroup(context.Background(), "webstack-prod-web")
	if err != nil {
		t.Fatal(err)
	}
	want := Group{
		Name: "webstack-prod-web", MinSize: 2, MaxSize: 4, DesiredCapacity: 2,
		Instances: []GroupInstance{
			{InstanceID: "i-0b22a22eec53b9321", AvailabilityZone: "us-east-1a", LifecycleState: InService, HealthStatus: Healthy, LaunchTemplateVersion: "7"},
			{InstanceID: "i-0c3f1e8b2d4a5f678", AvailabilityZone: "us-east-1b", LifecycleState: PendingWait, HealthStatus: Unhealthy, LaunchTemplateVersion: "8"},
		},
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("group\n%+v\nwant\n%+v", g, want)
	}
	reqs := a.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	checkQuery(t, reqs[0], "/autoscaling", "autoscaling", "2011-01-01", url.Values{
		"Action": {"DescribeAutoScalingGroups"}, "AutoScalingGroupNames.member.1": {"webstack-prod-web"},
	})
	if tok, ok := reqs[0].header["X-Amz-Security-Token"]; ok {
		t.Errorf("X-Amz-Security-Token %q sent without a session token", tok)
	}
}

func TestDescribeGroupNotFound(t *testing.T) {
	a := newAPI(t, func(int, received) answer { return answer{body: describeNoGroupAnswer} })
	c := newTestClient(t, a, "")
	_, err := c.DescribeGroup(context.Background(), "webstack-prod-nope")
	var e *APIError
	if !errors.As(err, &e) || e.Code != "ValidationError" {
		t.Fatalf("error %v, want an APIError ValidationError", err)
	}
	if !strings.Contains(err.Error(), "webstack-prod-nope") || !strings.Contains(err.Error(), "DescribeAutoScalingGroups") {
		t.Errorf("error %q does not name the action and the group", err)
	}
}

func TestDescribeInstances(t *testing.T) {
	a := newAPI(t, func(int, received) answer { return answer{body: describeInstancesAnswer} })
	c := newTestClient(t, a, "session-token-1")
	got, err := c.DescribeInstances(context.Background(), []string{"i-0b22a22eec53b9321", "i-0c3f1e8b2d4a5f678"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Instance{
		{InstanceID: "i-0b22a22eec53b9321", PrivateIP: "10.0.1.88", AvailabilityZone: "us-east-1a", State: "running"},
		{InstanceID: "i-0c3f1e8b2d4a5f678", AvailabilityZone: "us-east-1b", State: "terminated"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("instances\n%+v\nwant\n%+v", got, want)
	}
	reqs := a.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	checkQuery(t, reqs[0], "/ec2", "ec2", "2016-11-15", url.Values{
		"Action": {"DescribeInstances"}, "InstanceId.1": {"i-0b22a22eec53b9321"}, "InstanceId.2": {"i-0c3f1e8b2d4a5f678"},
	})
	if tok := reqs[0].header.Get("X-Amz-Security-Token"); tok != "session-token-1" {
		t.Errorf("X-Amz-Security-Token %q, want session-token-1", tok)
	}
	if !strings.Contains(reqs[0].header.Get("Authorization"), "x-amz-security-token") {
		t.Errorf("the session token is not signed: %s", reqs[0].header.Get("Authorization"))
	}

	// No ids: no call (the API would list every instance).
	if got, err := c.DescribeInstances(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("no ids: %v, %v", got, err)
	}
	if n := len(a.requests()); n != 1 {
		t.Errorf("no ids: %d requests, want none more", n-1)
	}
}

func TestDescribeInstancesBatches(t *testing.T) {
	a := newAPI(t, func(_ int, r received) answer {
		return answer{body: `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><reservationSet/></DescribeInstancesResponse>`}
	})
	c := newTestClient(t, a, "")
	ids := make([]string, 250)
	for i := range ids {
		ids[i] = "i-" + strings.Repeat("0", 16) + string(rune('a'+i%26))
	}
	if _, err := c.DescribeInstances(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	reqs := a.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests for 250 ids, want 3", len(reqs))
	}
	if reqs[2].form.Get("InstanceId.50") != ids[249] || reqs[2].form.Get("InstanceId.51") != "" {
		t.Errorf("last batch: %v", reqs[2].form)
	}
}

func TestLifecycleAndHealthCalls(t *testing.T) {
	empty := map[string]string{
		"CompleteLifecycleAction":        `<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><CompleteLifecycleActionResult/><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></CompleteLifecycleActionResponse>`,
		"RecordLifecycleActionHeartbeat": `<RecordLifecycleActionHeartbeatResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><RecordLifecycleActionHeartbeatResult/><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></RecordLifecycleActionHeartbeatResponse>`,
		"SetInstanceHealth":              `<SetInstanceHealthResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><ResponseMetadata><RequestId>3</RequestId></ResponseMetadata></SetInstanceHealthResponse>`,
		"SetDesiredCapacity":             `<SetDesiredCapacityResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><ResponseMetadata><RequestId>4</RequestId></ResponseMetadata></SetDesiredCapacityResponse>`,
	}
	a := newAPI(t, func(_ int, r received) answer { return answer{body: empty[r.form.Get("Action")]} })
	c := newTestClient(t, a, "")
	ctx := context.Background()
	if err := c.CompleteLifecycleAction(ctx, "webstack-prod-web", "webstack-prod-web-launch", "i-123", Continue); err != nil {
		t.Fatal(err)
	}
	if err := c.RecordLifecycleActionHeartbeat(ctx, "webstack-prod-web", "webstack-prod-web-terminate", "i-123"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetInstanceHealth(ctx, "i-123", Unhealthy, false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDesiredCapacity(ctx, "webstack-prod-web", 3); err != nil {
		t.Fatal(err)
	}
	reqs := a.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	checkQuery(t, reqs[0], "/autoscaling", "autoscaling", "2011-01-01", url.Values{
		"Action": {"CompleteLifecycleAction"}, "AutoScalingGroupName": {"webstack-prod-web"},
		"LifecycleHookName": {"webstack-prod-web-launch"}, "InstanceId": {"i-123"}, "LifecycleActionResult": {"CONTINUE"},
	})
	checkQuery(t, reqs[1], "/autoscaling", "autoscaling", "2011-01-01", url.Values{
		"Action": {"RecordLifecycleActionHeartbeat"}, "AutoScalingGroupName": {"webstack-prod-web"},
		"LifecycleHookName": {"webstack-prod-web-terminate"}, "InstanceId": {"i-123"},
	})
	checkQuery(t, reqs[2], "/autoscaling", "autoscaling", "2011-01-01", url.Values{
		"Action": {"SetInstanceHealth"}, "InstanceId": {"i-123"}, "HealthStatus": {"Unhealthy"}, "ShouldRespectGracePeriod": {"false"},
	})
	checkQuery(t, reqs[3], "/autoscaling", "autoscaling", "2011-01-01", url.Values{
		"Action": {"SetDesiredCapacity"}, "AutoScalingGroupName": {"webstack-prod-web"}, "DesiredCapacity": {"3"},
	})
}

func TestInstanceRefreshes(t *testing.T) {
	a := newAPI(t, func(_ int, r received) answer {
		switch {
		case r.form.Get("Action") == "StartInstanceRefresh":
			return answer{body: `<StartInstanceRefreshResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <StartInstanceRefreshResult>
    <InstanceRefreshId>08b91cf7-8fa6-48af-b6a6-d227f40f1b9b</InstanceRefreshId>
  </StartInstanceRefreshResult>
  <ResponseMetadata><RequestId>e0d28b4a-b677-11e2-9eb0-dd50EXAMPLE</RequestId></ResponseMetadata>
</StartInstanceRefreshResponse>`}
		case r.form.Get("NextToken") == "":
			return answer{body: `<DescribeInstanceRefreshesResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeInstanceRefreshesResult>
    <InstanceRefreshes>
      <member>
        <PercentageComplete>5</PercentageComplete>
        <InstancesToUpdate>5</InstancesToUpdate>
        <AutoScalingGroupName>webstack-prod-web</AutoScalingGroupName>
        <Status>InProgress</Status>
        <StartTime>2024-06-02T18:11:27Z</StartTime>
        <InstanceRefreshId>08b91cf7-8fa6-48af-b6a6-d227f40f1b9b</InstanceRefreshId>
        <Preferences>
          <MinHealthyPercentage>90</MinHealthyPercentage>
          <MaxHealthyPercentage>110</MaxHealthyPercentage>
          <InstanceWarmup>60</InstanceWarmup>
        </Preferences>
      </member>
    </InstanceRefreshes>
    <NextToken>page2</NextToken>
  </DescribeInstanceRefreshesResult>
  <ResponseMetadata><RequestId>f1e39c5b-b677-11e2-9eb0-dd50EXAMPLE</RequestId></ResponseMetadata>
</DescribeInstanceRefreshesResponse>`}
		default:
			return answer{body: `<DescribeInstanceRefreshesResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeInstanceRefreshesResult>
    <InstanceRefreshes>
      <member>
        <PercentageComplete>100</PercentageComplete>
        <AutoScalingGroupName>webstack-prod-web</AutoScalingGroupName>
        <Status>Successful</Status>
        <StatusReason>Instance refresh succeeded.</StatusReason>
        <InstanceRefreshId>dd7728d0-5bc4-4575-96a3-1b2c52bf8bb1</InstanceRefreshId>
      </member>
      <member>
        <AutoScalingGroupName>webstack-prod-web</AutoScalingGroupName>
        <Status>Cancelled</Status>
        <InstanceRefreshId>3b7e64b7-5c4a-4a3b-8f16-aa1e6c7f2b10</InstanceRefreshId>
      </member>
    </InstanceRefreshes>
  </DescribeInstanceRefreshesResult>
  <ResponseMetadata><RequestId>a2f4ad6c-b677-11e2-9eb0-dd50EXAMPLE</RequestId></ResponseMetadata>
</DescribeInstanceRefreshesResponse>`}
		}
	})
	c := newTestClient(t, a, "")
	id, err := c.StartInstanceRefresh(context.Background(), "webstack-prod-web", 90, 110)
	if err != nil || id != "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b" {
		t.Fatalf("StartInstanceRefresh: %q, %v", id, err)
	}
	refreshes, err := c.DescribeInstanceRefreshes(context.Background(), "webstack-prod-web")
	if err != nil {
		t.Fatal(err)
	}
	want := []InstanceRefresh{
		{ID: "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b", Status: RefreshInProgress, PercentageComplete: 5},
		{ID: "dd7728d0-5bc4-4575-96a3-1b2c52bf8bb1", Status: RefreshSuccessful, PercentageComplete: 100},
		{ID: "3b7e64b7-5c4a-4a3b-8f16-aa1e6c7f2b10", Status: RefreshCancelled},
	}
	if !reflect.DeepEqual(refreshes, want) {
		t.Errorf("refreshes\n%+v\nwant\n%+v", refreshes, want)
	}
	reqs := a.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	checkQuery(t, reqs[0], "/autoscaling", "autoscaling", "2011-01-01", url.Values{
		"Action": {"StartInstanceRefresh"}, "AutoScalingGroupName": {"webstack-prod-web"}, "Strategy": {"Rolling"},
		"Preferences.MinHealthyPercentage": {"90"}, "Preferences.MaxHealthyPercentage": {"110"},
	})
	checkQuery(t, reqs[1], "/autoscaling", "autoscaling", "2011-01-01", url.Values{
		"Action": {"DescribeInstanceRefreshes"}, "AutoScalingGroupName": {"webstack-prod-web"},
	})
	checkQuery(t, reqs[2], "/autoscaling", "autoscaling", "2011-01-01", url.Values{
		"Action": {"DescribeInstanceRefreshes"}, "AutoScalingGroupName": {"webstack-prod-web"}, "NextToken": {"page2"},
	})
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		answer               answer
		call                 func(*Client) error
		code, message, where string
		status               int
	}{
		{
			name:   "auto scaling",
			answer: answer{http.StatusBadRequest, asgValidationError},
			call: func(c *Client) error {
				return c.CompleteLifecycleAction(context.Background(), "webstack-prod-web", "launch", "i-0b22a22eec53b9321", Continue)
			},
			code: "ValidationError", message: "No active Lifecycle Action found with instance ID i-0b22a22eec53b9321", status: 400,
			where: "autoscaling CompleteLifecycleAction group webstack-prod-web hook launch instance i-0b22a22eec53b9321",
		},
		{
			name:   "ec2",
			answer: answer{http.StatusBadRequest, ec2NotFound},
			call: func(c *Client) error {
				_, err := c.DescribeInstances(context.Background(), []string{"i-1a2b3c4d"})
				return err
			},
			code: "InvalidInstanceID.NotFound", message: "The instance ID 'i-1a2b3c4d' does not exist", status: 400,
			where: "ec2 DescribeInstances instances i-1a2b3c4d",
		},
		{
			name:   "no error document",
			answer: answer{http.StatusForbidden, "<html>denied</html>"},
			call: func(c *Client) error {
				return c.SetDesiredCapacity(context.Background(), "webstack-prod-web", 2)
			},
			code: "Forbidden", message: "<html>denied</html>", status: 403,
			where: "autoscaling SetDesiredCapacity group webstack-prod-web",
		},
		{
			name:   "undecodable success",
			answer: answer{http.StatusOK, "<DescribeAutoScalingGroupsResponse><oops"},
			call: func(c *Client) error {
				_, err := c.DescribeGroup(context.Background(), "webstack-prod-web")
				return err
			},
			where: "autoscaling DescribeAutoScalingGroups group webstack-prod-web: decoding the answer",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, func(int, received) answer { return tt.answer })
			c := newTestClient(t, a, "")
			err := tt.call(c)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.where) {
				t.Errorf("error %q does not say %q", err, tt.where)
			}
			if n := len(a.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
			if tt.code == "" {
				return
			}
			var e *APIError
			if !errors.As(err, &e) {
				t.Fatalf("error %v wraps no APIError", err)
			}
			if e.Code != tt.code || e.Message != tt.message || e.StatusCode != tt.status {
				t.Errorf("APIError %+v, want %s %q %d", *e, tt.code, tt.message, tt.status)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	ok := describeGroupsAnswer
	for _, tt := range []struct {
		name     string
		answers  []answer // then ok
		requests int
		fail     string
	}{
		{"throttling", []answer{{400, asgThrottled}, {400, asgThrottled}}, 3, ""},
		{"rate exceeded", []answer{{400, strings.Replace(asgThrottled, "<Code>Throttling</Code>", "<Code>Rate exceeded</Code>", 1)}}, 2, ""},
		{"server errors", []answer{{503, "Service Unavailable"}, {500, `<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>oops</Message></Error></ErrorResponse>`}}, 3, ""},
		{"always throttled", []answer{{400, asgThrottled}, {400, asgThrottled}, {400, asgThrottled}, {400, asgThrottled}, {400, asgThrottled}}, 4, "after 4 attempts"},
		{"not retried", []answer{{400, asgValidationError}}, 1, "ValidationError"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, func(n int, _ received) answer {
				if n < len(tt.answers) {
					return tt.answers[n]
				}
				return answer{body: ok}
			})
			c := newTestClient(t, a, "")
			_, err := c.DescribeGroup(context.Background(), "webstack-prod-web")
			if tt.fail == "" && err != nil {
				t.Fatal(err)
			}
			if tt.fail != "" && (err == nil || !strings.Contains(err.Error(), tt.fail)) {
				t.Fatalf("error %v, want one saying %q", err, tt.fail)
			}
			if n := len(a.requests()); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}

	t.Run("ec2 throttling", func(t *testing.T) {
		a := newAPI(t, func(n int, _ received) answer {
			if n == 0 {
				return answer{400, ec2Throttled}
			}
			return answer{body: describeInstancesAnswer}
		})
		c := newTestClient(t, a, "")
		if _, err := c.DescribeInstances(context.Background(), []string{"i-0b22a22eec53b9321"}); err != nil {
			t.Fatal(err)
		}
		if n := len(a.requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})

	t.Run("context cancelled during backoff", func(t *testing.T) {
		a := newAPI(t, func(int, received) answer { return answer{400, asgThrottled} })
		c := newTestClient(t, a, "")
		c.backoff = time.Hour
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.DescribeGroup(ctx, "webstack-prod-web")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the context's", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %v", time.Since(start))
		}
		if !IsThrottling(err) {
			t.Errorf("error %v should still say it was throttled", err)
		}
	})

	t.Run("per-request timeout", func(t *testing.T) {
		block := make(chan struct{})
		a := newAPI(t, func(n int, _ received) answer {
			if n == 0 {
				<-block
			}
			return answer{body: ok}
		})
		defer close(block)
		c := newTestClient(t, a, "")
		c.timeout = 100 * time.Millisecond
		if _, err := c.DescribeGroup(context.Background(), "webstack-prod-web"); err != nil {
			t.Fatalf("a timed-out attempt is retried: %v", err)
		}
		if n := len(a.requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
}

func TestBackoffDelay(t *testing.T) {
	for attempt, full := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := backoffDelay(firstBackoff, attempt)
			if d < full/2 || d > full {
				t.Errorf("attempt %d: delay %v not within [%v, %v]", attempt, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("attempt %d: no jitter", attempt)
		}
	}
}

func TestEndpoints(t *testing.T) {
	for _, tt := range []struct {
		region, env, global, wantASG, wantEC2 string
	}{
		{region: "eu-west-1", wantASG: "https://autoscaling.eu-west-1.amazonaws.com", wantEC2: "https://ec2.eu-west-1.amazonaws.com"},
		{region: "cn-north-1", wantASG: "https://autoscaling.cn-north-1.amazonaws.com.cn", wantEC2: "https://ec2.cn-north-1.amazonaws.com.cn"},
		{region: "us-east-1", env: "http://10.77.0.1:8085", wantASG: "http://10.77.0.1:8085/autoscaling", wantEC2: "http://10.77.0.1:8085/ec2"},
		{region: "us-east-1", global: "http://10.77.0.1:8085/", wantASG: "http://10.77.0.1:8085/", wantEC2: "http://10.77.0.1:8085/"},
	} {
		cleanEnv(t)
		if tt.env != "" {
			t.Setenv(EnvEndpointAutoScaling, tt.env+"/autoscaling")
			t.Setenv(EnvEndpointEC2, tt.env+"/ec2")
		}
		t.Setenv(EnvEndpoint, tt.global)
		c := NewClient(tt.region, nil)
		if c.AutoScalingEndpoint() != tt.wantASG || c.EC2Endpoint() != tt.wantEC2 {
			t.Errorf("%+v: endpoints %s %s", tt, c.AutoScalingEndpoint(), c.EC2Endpoint())
		}
	}

	cleanEnv(t)
	t.Setenv(EnvRegion, "eu-central-1")
	if c := NewClient("", nil); c.Region() != "eu-central-1" {
		t.Errorf("region from AWS_REGION: %q", c.Region())
	}
}

// TestEndpointOverride: requests go to exactly the URLs of the variables.
func TestEndpointOverride(t *testing.T) {
	a := newAPI(t, func(_ int, r received) answer {
		if r.form.Get("Action") == "DescribeInstances" {
			return answer{body: describeInstancesAnswer}
		}
		return answer{body: describeGroupsAnswer}
	})
	cleanEnv(t)
	t.Setenv(EnvEndpointAutoScaling, a.URL+"/sandbox/autoscaling")
	t.Setenv(EnvEndpointEC2, a.URL+"/sandbox/ec2/")
	t.Setenv(EnvAccessKeyID, exampleKeyID)
	t.Setenv(EnvSecretAccessKey, exampleSecret)
	c := NewClient("eu-west-3", nil)
	if _, err := c.DescribeGroup(context.Background(), "webstack-prod-web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeInstances(context.Background(), []string{"i-0b22a22eec53b9321"}); err != nil {
		t.Fatal(err)
	}
	reqs := a.requests()
	if len(reqs) != 2 || reqs[0].path != "/sandbox/autoscaling" || reqs[1].path != "/sandbox/ec2/" {
		t.Fatalf("requests went to %v", reqs)
	}
	for _, r := range reqs {
		r.request.Header = r.header
		if scope := verifySigned(t, r.request, r.body, exampleKeyID, exampleSecret); scope[2] != "eu-west-3" {
			t.Errorf("scope %v, want region eu-west-3", scope)
		}
	}
}

// TestSignatureAtFixedTime pins the whole Authorization header of one
// request at a fixed time.
func TestSignatureAtFixedTime(t *testing.T) {
	a := newAPI(t, func(int, received) answer { return answer{body: describeGroupsAnswer} })
	c := newTestClient(t, a, "SESSIONTOKEN")
	c.now = func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) }
	c.DescribeGroup(context.Background(), "web") // the answer names another group: only the request matters
	r := a.requests()[0]
	if d := r.header.Get("X-Amz-Date"); d != "20150830T123600Z" {
		t.Errorf("X-Amz-Date %q", d)
	}
	body := "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=web"
	if string(r.body) != body {
		t.Errorf("body %q, want %q", r.body, body)
	}
	want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/autoscaling/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=" +
		refSign(refRequest{method: "POST", path: "/autoscaling", payload: []byte(body),
			headers: map[string]string{"host": r.request.Host, "x-amz-date": "20150830T123600Z", "x-amz-security-token": "SESSIONTOKEN"},
			secret:  exampleSecret, amzDate: "20150830T123600Z", region: "us-east-1", service: "autoscaling"})
	if got := r.header.Get("Authorization"); got != want {
		t.Errorf("Authorization\n%s\nwant\n%s", got, want)
	}
}

func TestNoCredentials(t *testing.T) {
	a := newAPI(t, func(int, received) answer { return answer{body: describeGroupsAnswer} })
	cleanEnv(t)
	t.Setenv(EnvEndpointAutoScaling, a.URL)
	c := NewClient("us-east-1", nil)
	_, err := c.DescribeGroup(context.Background(), "web")
	if err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("error %v, want no credentials", err)
	}
	if n := len(a.requests()); n != 0 {
		t.Errorf("%d requests without credentials", n)
	}
}

func TestNoRegion(t *testing.T) {
	cleanEnv(t)
	t.Setenv(EnvAccessKeyID, exampleKeyID)
	t.Setenv(EnvSecretAccessKey, exampleSecret)
	c := NewClient("", nil)
	if _, err := c.DescribeGroup(context.Background(), "web"); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Errorf("error %v, want no region", err)
	}
}
