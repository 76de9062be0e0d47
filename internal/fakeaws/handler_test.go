package fakeaws

import (
	"crypto/sha256"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/aws/smithy-go/aws-http-auth/sigv4"

	"github.com/foobar/webstack/internal/awsapi"
)

// post sends a Query call to path, signed for service with key/secret
// (unsigned if key is "").
func post(t *testing.T, srv *httptest.Server, path, body, service, key, secret string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if key != "" {
		hash := sha256.Sum256([]byte(body))
		err := sigv4.New().SignRequest(&sigv4.SignRequestInput{
			Request: req, PayloadHash: hash[:], Service: service, Region: "us-east-1",
			Credentials: credentials.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: SessionToken},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newServer(t *testing.T) (*Memory, *httptest.Server) {
	t.Helper()
	mem := NewMemory()
	mem.AddGroup(web, 1, 2, 1)
	must(t, mem.AddInstance(web, awsapi.Instance{InstanceID: "i-web1", PrivateIP: "127.0.0.1", AvailabilityZone: "us-east-1a"}, awsapi.InService))
	srv := httptest.NewServer(Handler(mem))
	t.Cleanup(srv.Close)
	return mem, srv
}

const describeWeb = "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=webstack-prod-web"

func TestAuthorization(t *testing.T) {
	mem, srv := newServer(t)
	for _, tt := range []struct {
		name, path, body, service, key, secret string
		status                                 int
		want                                   string
	}{
		{"unsigned", "/autoscaling", describeWeb, "", "", "", 403, "<Code>IncompleteSignature</Code>"},
		{"other service's scope", "/autoscaling", describeWeb, "ec2", AccessKeyID, SecretAccessKey, 403, "<Code>SignatureDoesNotMatch</Code>"},
		{"wrong secret", "/autoscaling", describeWeb, "autoscaling", AccessKeyID, "nope", 403, "<Code>SignatureDoesNotMatch</Code>"},
		{"ec2 unsigned", "/ec2", "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-web1", "", "", "", 403, "<Response><Errors><Error><Code>IncompleteSignature</Code>"},
		{"fake credentials", "/autoscaling", describeWeb, "autoscaling", AccessKeyID, SecretAccessKey, 200, "<AutoScalingGroupName>webstack-prod-web</AutoScalingGroupName>"},
		{"other credentials", "/autoscaling/", describeWeb, "autoscaling", "AKIDOTHER", "unknown", 200, "<InstanceId>i-web1</InstanceId>"},
		{"one endpoint, ec2 by scope", "/", "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-web1", "ec2", AccessKeyID, SecretAccessKey, 200, "<privateIpAddress>127.0.0.1</privateIpAddress>"},
		{"one endpoint, unsigned", "/", describeWeb, "", "", "", 403, "IncompleteSignature"},
		{"unknown action", "/autoscaling", "Action=DeleteAutoScalingGroup&Version=2011-01-01", "autoscaling", AccessKeyID, SecretAccessKey, 400, "<Code>InvalidAction</Code>"},
		{"wrong version", "/autoscaling", "Action=DescribeAutoScalingGroups&Version=2016-11-15", "autoscaling", AccessKeyID, SecretAccessKey, 400, "<Code>NoSuchVersion</Code>"},
		{"no action", "/ec2", "Version=2016-11-15", "ec2", AccessKeyID, SecretAccessKey, 400, "<Code>MissingAction</Code>"},
		{"missing parameter", "/autoscaling", "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=webstack-prod-web", "autoscaling", AccessKeyID, SecretAccessKey, 400, "DesiredCapacity"},
		{"bad integer", "/autoscaling", "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=webstack-prod-web&DesiredCapacity=two", "autoscaling", AccessKeyID, SecretAccessKey, 400, "must be an integer"},
		{"bad form", "/autoscaling", "Action=%zz", "autoscaling", AccessKeyID, SecretAccessKey, 400, "MalformedQueryString"},
	} {
		status, body := post(t, srv, tt.path, tt.body, tt.service, tt.key, tt.secret)
		if status != tt.status || !strings.Contains(strings.Join(strings.Fields(body), ""), strings.Join(strings.Fields(tt.want), "")) {
			t.Errorf("%s: %d %s\nwant %d and %s", tt.name, status, body, tt.status, tt.want)
		}
	}
	// Refused calls never reach the Cloud; the others are recorded.
	if got := mem.CallsTo("DescribeAutoScalingGroups"); len(got) != 2 {
		t.Errorf("DescribeAutoScalingGroups reached the Cloud %d times, want 2: %v", len(got), mem.Calls())
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/autoscaling", nil)
	if status, _ := do(t, req); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /autoscaling: %d", status)
	}
}

// TestAnswerShapes: the XML documents are AWS's, with their namespaces.
func TestAnswerShapes(t *testing.T) {
	_, srv := newServer(t)
	sign := func(path, body, service string) string {
		t.Helper()
		_, answer := post(t, srv, path, body, service, AccessKeyID, SecretAccessKey)
		return answer
	}
	type root struct {
		XMLName xml.Name
	}
	for _, tt := range []struct {
		body, service, root, ns string
		contains                []string
	}{
		{describeWeb, "autoscaling", "DescribeAutoScalingGroupsResponse", AutoScalingNamespace,
			[]string{"<DescribeAutoScalingGroupsResult>", "<AutoScalingGroups>", "<member>", "<Instances>", "<LifecycleState>InService</LifecycleState>", "<ResponseMetadata>", "<RequestId>"}},
		{"Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=nope", "autoscaling", "DescribeAutoScalingGroupsResponse", AutoScalingNamespace,
			[]string{"<AutoScalingGroups></AutoScalingGroups>"}},
		{"Action=SetInstanceHealth&Version=2011-01-01&InstanceId=i-web1&HealthStatus=Unhealthy", "autoscaling", "SetInstanceHealthResponse", AutoScalingNamespace,
			[]string{"<ResponseMetadata>"}},
		{"Action=CompleteLifecycleAction&Version=2011-01-01&AutoScalingGroupName=webstack-prod-web&LifecycleHookName=h&InstanceId=i-web1&LifecycleActionResult=CONTINUE", "autoscaling", "ErrorResponse", AutoScalingNamespace,
			[]string{"<Error>", "<Type>Sender</Type>", "<Code>ValidationError</Code>", "<Message>No active Lifecycle Action found with instance ID i-web1</Message>", "<RequestId>"}},
		{"Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-web1", "ec2", "DescribeInstancesResponse", EC2Namespace,
			[]string{"<requestId>", "<reservationSet>", "<item>", "<instancesSet>", "<instanceId>i-web1</instanceId>", "<code>16</code>", "<name>running</name>", "<availabilityZone>us-east-1a</availabilityZone>"}},
		{"Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-nope", "ec2", "Response", "",
			[]string{"<Errors><Error><Code>InvalidInstanceID.NotFound</Code>", "<RequestID>"}},
	} {
		path := "/" + tt.service
		answer := sign(path, tt.body, tt.service)
		var r root
		if err := xml.Unmarshal([]byte(answer), &r); err != nil {
			t.Errorf("%s: %v\n%s", tt.body, err, answer)
			continue
		}
		if r.XMLName.Local != tt.root || r.XMLName.Space != tt.ns {
			t.Errorf("%s: root {%s}%s, want {%s}%s", tt.body, r.XMLName.Space, r.XMLName.Local, tt.ns, tt.root)
		}
		compact := strings.Join(strings.Fields(answer), "")
		for _, s := range tt.contains {
			if !strings.Contains(compact, strings.Join(strings.Fields(s), "")) {
				t.Errorf("%s: the answer lacks %s\n%s", tt.body, s, answer)
			}
		}
	}
}

func TestMetadataService(t *testing.T) {
	mem, srv := newServer(t)
	token := func(ttl string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/latest/api/token", nil)
		if ttl != "" {
			req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", ttl)
		}
		return do(t, req)
	}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/latest/"+path, nil)
		if token != "" {
			req.Header.Set("X-aws-ec2-metadata-token", token)
		}
		return do(t, req)
	}
	for _, ttl := range []string{"", "0", "21601", "soon"} {
		if status, _ := token(ttl); status != http.StatusBadRequest {
			t.Errorf("PUT api/token with TTL %q: %d, want 400", ttl, status)
		}
	}
	if status, _ := get("api/token", ""); status != http.StatusMethodNotAllowed {
		t.Errorf("GET api/token: %d", status)
	}
	status, tok := token("21600")
	if status != 200 || len(tok) < 20 {
		t.Fatalf("PUT api/token: %d %q", status, tok)
	}
	if _, tok2 := token("60"); tok2 == tok {
		t.Error("two tokens alike")
	}
	for _, tt := range []struct {
		path, token string
		status      int
		body        string
	}{
		{"meta-data/instance-id", "", 401, ""},
		{"meta-data/instance-id", "forged", 401, ""},
		{"meta-data/instance-id", tok, 200, "i-web1"},
		{"meta-data/placement/availability-zone", tok, 200, "us-east-1a"},
		{"meta-data/autoscaling/target-lifecycle-state", tok, 200, "InService"},
		{"meta-data/iam/security-credentials/", tok, 200, DefaultRole},
		{"meta-data/iam/security-credentials/" + DefaultRole, tok, 200, `"AccessKeyId":"` + AccessKeyID + `"`},
		{"meta-data/iam/security-credentials/other", tok, 404, ""},
		{"meta-data/ami-id", tok, 404, ""},
	} {
		status, body := get(tt.path, tt.token)
		if status != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s (token %q): %d %q, want %d %q", tt.path, tt.token, status, body, tt.status, tt.body)
		}
	}
	must(t, mem.SetTarget("i-web1", ""))
	if status, _ := get("meta-data/autoscaling/target-lifecycle-state", tok); status != 404 {
		t.Errorf("no target: %d, want 404", status)
	}
	must(t, mem.SetRole("i-web1", ""))
	if status, _ := get("meta-data/iam/security-credentials/", tok); status != 404 {
		t.Errorf("no role: %d, want 404", status)
	}
}

func TestMetadataTokenExpiry(t *testing.T) {
	h := Handler(NewMemory()).(*handler)
	now := time.Now()
	h.now = func() time.Time { return now }
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPut, "/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "10")
	h.ServeHTTP(rec, req)
	tok := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("X-aws-ec2-metadata-token-ttl-seconds") != "10" {
		t.Fatalf("PUT: %d %v", rec.Code, rec.Header())
	}
	if !h.validToken(tok) {
		t.Error("a fresh token is refused")
	}
	now = now.Add(11 * time.Second)
	if h.validToken(tok) {
		t.Error("an expired token is accepted")
	}
}

// TestSignatureOfOtherSigner: the verifier accepts a request signed by
// aws-sdk-go-v2 v1.43.0's signer (which also signs Content-Length); the
// vector was computed once outside this module.
func TestSignatureOfOtherSigner(t *testing.T) {
	body := "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=web"
	r := httptest.NewRequest(http.MethodPost, "http://10.77.0.1:8085/autoscaling", strings.NewReader(body))
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	r.Header.Set("X-Amz-Security-Token", "SESSIONTOKEN")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/autoscaling/aws4_request, SignedHeaders=content-length;host;x-amz-date;x-amz-security-token, Signature=cfdd4781bddc22c7decca9f97d505b8eac4265e6520d9433f355ba6545c9f0c7")
	if r.ContentLength != int64(len(body)) || r.Host != "10.77.0.1:8085" {
		t.Fatalf("request: length %d, host %s", r.ContentLength, r.Host)
	}
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	must(t, err)
	at, _ := time.Parse("20060102T150405Z", "20150830T123600Z")
	got, err := signature(r, []byte(body), a, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", at)
	must(t, err)
	if got != a.signature {
		t.Errorf("signature %s, want %s", got, a.signature)
	}
	// One byte more in the body: refused.
	got, _ = signature(r, []byte(body+"x"), a, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", at)
	if got == a.signature {
		t.Error("a changed body keeps the signature")
	}
	r.Header.Set("X-Amz-Content-Sha256", strconv.Itoa(42))
	if _, err := signature(r, []byte(body), a, "x", at); err == nil {
		t.Error("a wrong X-Amz-Content-Sha256 is accepted")
	}
}

func TestParseAuthorization(t *testing.T) {
	for _, h := range []string{
		"",
		"AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=a/b/c/aws4_request, SignedHeaders=host, Signature=00",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/aws5_request, SignedHeaders=host, Signature=00",
		"AWS4-HMAC-SHA256 garbage",
	} {
		if _, err := parseAuthorization(h); err == nil {
			t.Errorf("%q parses", h)
		}
	}
	a, err := parseAuthorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	must(t, err)
	if a.accessKeyID != "AKID" || a.date != "20150830" || a.region != "us-east-1" || a.service != "ec2" || len(a.signedHeaders) != 2 || a.signature != "abc" {
		t.Errorf("%+v", a)
	}
}
