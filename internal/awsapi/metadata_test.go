package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// imds is a fake instance metadata service (IMDSv2 only) that counts what
// it is asked.
type imds struct {
	*httptest.Server
	mu       sync.Mutex
	tokens   map[string]bool
	puts     int
	gets     map[string]int
	ttls     []string
	files    map[string]string // path under /latest/ → body; absent: 404
	statuses map[string]int    // path → status to answer instead
	creds    []Credentials     // answered in turn by the role's path, the last one repeated
	role     string
}

func newIMDS(t *testing.T) *imds {
	t.Helper()
	m := &imds{
		tokens: map[string]bool{},
		gets:   map[string]int{},
		files: map[string]string{
			"meta-data/instance-id":                        "i-0b22a22eec53b9321",
			"meta-data/placement/availability-zone":        "us-east-1a",
			"meta-data/autoscaling/target-lifecycle-state": "InService",
		},
		statuses: map[string]int{},
		role:     "webstack-host",
	}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

func (m *imds) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/latest/")
	if path == "api/token" {
		if r.Method != http.MethodPut {
			http.Error(w, "PUT", http.StatusMethodNotAllowed)
			return
		}
		ttl := r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds")
		m.ttls = append(m.ttls, ttl)
		if ttl == "" {
			http.Error(w, "missing ttl", http.StatusBadRequest)
			return
		}
		m.puts++
		token := fmt.Sprintf("token-%d", m.puts)
		m.tokens[token] = true
		io.WriteString(w, token)
		return
	}
	m.gets[path]++
	if !m.tokens[r.Header.Get("X-aws-ec2-metadata-token")] {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	if s := m.statuses[path]; s != 0 {
		http.Error(w, "broken", s)
		return
	}
	if body, ok := m.files[path]; ok {
		io.WriteString(w, body)
		return
	}
	switch path {
	case "meta-data/iam/security-credentials/":
		io.WriteString(w, m.role+"\n")
		return
	case "meta-data/iam/security-credentials/" + m.role:
		if len(m.creds) == 0 {
			http.NotFound(w, r)
			return
		}
		c := m.creds[0]
		if len(m.creds) > 1 {
			m.creds = m.creds[1:]
		}
		json.NewEncoder(w).Encode(map[string]string{
			"Code": "Success", "LastUpdated": "2024-05-08T16:46:19Z", "Type": "AWS-HMAC",
			"AccessKeyId": c.AccessKeyID, "SecretAccessKey": c.SecretAccessKey, "Token": c.SessionToken,
			"Expiration": c.Expires.UTC().Format(time.RFC3339),
		})
		return
	}
	http.NotFound(w, r)
}

// revoke makes every token issued so far invalid.
func (m *imds) revoke() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.tokens)
}

func (m *imds) counts(path string) (puts, gets int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts, m.gets[path]
}

func newTestMetadata(t *testing.T, m *imds) *Metadata {
	t.Helper()
	cleanEnv(t)
	t.Setenv(EnvMetadataEndpoint, m.URL+"/") // with a trailing slash, as documented
	md := NewMetadata()
	if md.Endpoint() != m.URL {
		t.Fatalf("endpoint %q, want %q", md.Endpoint(), m.URL)
	}
	return md
}

func TestMetadataDefaultEndpoint(t *testing.T) {
	cleanEnv(t)
	if e := NewMetadata().Endpoint(); e != "http://169.254.169.254" {
		t.Errorf("default endpoint %q", e)
	}
}

func TestMetadataTokenFlow(t *testing.T) {
	m := newIMDS(t)

	// Without a token the service refuses.
	resp, err := http.Get(m.URL + "/latest/meta-data/instance-id")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET without a token: %d", resp.StatusCode)
	}

	md := newTestMetadata(t, m)
	ctx := context.Background()
	id, err := md.InstanceID(ctx)
	if err != nil || id != "i-0b22a22eec53b9321" {
		t.Fatalf("InstanceID: %q, %v", id, err)
	}
	az, err := md.AvailabilityZone(ctx)
	if err != nil || az != "us-east-1a" {
		t.Fatalf("AvailabilityZone: %q, %v", az, err)
	}
	target, err := md.TargetLifecycleState(ctx)
	if err != nil || target != InService {
		t.Fatalf("TargetLifecycleState: %q, %v", target, err)
	}
	if puts, _ := m.counts(""); puts != 1 {
		t.Errorf("%d tokens asked for 3 GETs, want 1 (cached)", puts)
	}
	if m.ttls[0] != "21600" {
		t.Errorf("token TTL %q, want 21600", m.ttls[0])
	}

	// A refused token is renewed, and the GET retried.
	m.revoke()
	if id, err := md.InstanceID(ctx); err != nil || id != "i-0b22a22eec53b9321" {
		t.Fatalf("InstanceID after revocation: %q, %v", id, err)
	}
	if puts, gets := m.counts("meta-data/instance-id"); puts != 2 || gets != 4 {
		t.Errorf("after revocation: %d tokens, %d GETs; want 2 and 4 (1 without a token, 1, then 1 refused and 1 renewed)", puts, gets)
	}

	// A token is renewed before it expires.
	md.now = func() time.Time { return time.Now().Add(6*time.Hour - 4*time.Minute) }
	if _, err := md.InstanceID(ctx); err != nil {
		t.Fatal(err)
	}
	if puts, _ := m.counts(""); puts != 3 {
		t.Errorf("%d tokens, want a third one near expiry", puts)
	}
}

func TestMetadataErrors(t *testing.T) {
	m := newIMDS(t)
	md := newTestMetadata(t, m)
	ctx := context.Background()

	delete(m.files, "meta-data/autoscaling/target-lifecycle-state")
	if target, err := md.TargetLifecycleState(ctx); err != nil || target != "" {
		t.Errorf("TargetLifecycleState without one: %q, %v; want \"\", nil", target, err)
	}
	m.statuses["meta-data/autoscaling/target-lifecycle-state"] = 500
	if _, err := md.TargetLifecycleState(ctx); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("TargetLifecycleState on a 500: %v", err)
	}
	m.statuses["meta-data/instance-id"] = 503
	_, err := md.InstanceID(ctx)
	if err == nil || !strings.Contains(err.Error(), "meta-data/instance-id") || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("InstanceID on a 503: %v", err)
	}
	delete(m.files, "meta-data/placement/availability-zone")
	if _, err := md.AvailabilityZone(ctx); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("AvailabilityZone on a 404: %v", err)
	}

	// Always refused: one renewal, then the 401 is an error.
	m.statuses["meta-data/instance-id"] = 401
	if _, err := md.InstanceID(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("InstanceID always refused: %v", err)
	}

	// No service at all.
	cleanEnv(t)
	t.Setenv(EnvMetadataEndpoint, "http://127.0.0.1:1")
	if _, err := NewMetadata().InstanceID(ctx); err == nil || !strings.Contains(err.Error(), "api/token") {
		t.Errorf("no service: %v", err)
	}
}

func TestMetadataTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	cleanEnv(t)
	t.Setenv(EnvMetadataEndpoint, srv.URL)
	md := NewMetadata()
	md.timeout = 50 * time.Millisecond
	start := time.Now()
	_, err := md.InstanceID(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want a timeout", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if NewMetadata().timeout != 2*time.Second {
		t.Errorf("default timeout %v, want 2s", NewMetadata().timeout)
	}
}

func TestMetadataCredentials(t *testing.T) {
	m := newIMDS(t)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m.creds = []Credentials{{AccessKeyID: "ASIAROLE1", SecretAccessKey: "secret1", SessionToken: "token1", Expires: exp}}
	md := newTestMetadata(t, m)
	c, err := md.Credentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c != m.creds[0] {
		t.Errorf("credentials %+v, want %+v", c, m.creds[0])
	}

	m.role, m.creds = "other", nil
	if _, err := md.Credentials(context.Background()); err == nil || !strings.Contains(err.Error(), "role other") {
		t.Errorf("role without credentials: %v", err)
	}
}

func TestMetadataCredentialsBadAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"not json":       "<html>",
		"failure":        `{"Code":"AssumeRoleUnauthorizedAccess","Message":"denied"}`,
		"no key":         `{"Code":"Success","SecretAccessKey":"s"}`,
		"bad expiration": `{"Code":"Success","AccessKeyId":"a","SecretAccessKey":"s","Expiration":"tomorrow"}`,
	} {
		m := newIMDS(t)
		m.files["meta-data/iam/security-credentials/webstack-host"] = body
		md := newTestMetadata(t, m)
		_, err := md.Credentials(context.Background())
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "role webstack-host") {
			t.Errorf("%s: error %q does not name the role", name, err)
		}
	}
	m := newIMDS(t)
	m.files["meta-data/iam/security-credentials/"] = "\n"
	md := newTestMetadata(t, m)
	if _, err := md.Credentials(context.Background()); err == nil || !strings.Contains(err.Error(), "no usable role") {
		t.Errorf("no role: %v", err)
	}
}

// TestClientRoleCredentials: without credentials in the environment the
// client signs with the role's, cached until 5 minutes before they
// expire, and renewed after an ExpiredToken answer.
func TestClientRoleCredentials(t *testing.T) {
	m := newIMDS(t)
	now := time.Now()
	m.creds = []Credentials{
		{AccessKeyID: "ASIAROLE1", SecretAccessKey: "secret1", SessionToken: "token1", Expires: now.Add(time.Hour)},
		{AccessKeyID: "ASIAROLE2", SecretAccessKey: "secret2", SessionToken: "token2", Expires: now.Add(2 * time.Hour)},
		{AccessKeyID: "ASIAROLE3", SecretAccessKey: "secret3", SessionToken: "token3", Expires: now.Add(3 * time.Hour)},
	}
	md := newTestMetadata(t, m)
	expired := false
	a := newAPI(t, func(_ int, r received) answer {
		if expired && strings.Contains(r.header.Get("Authorization"), "ASIAROLE2/") {
			return answer{400, `<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error></ErrorResponse>`}
		}
		return answer{body: describeGroupsAnswer}
	})
	t.Setenv(EnvEndpointAutoScaling, a.URL)
	c := NewClient("us-east-1", md)
	c.backoff = time.Millisecond
	clock := now
	c.now = func() time.Time { return clock }
	ctx := context.Background()
	const rolePath = "meta-data/iam/security-credentials/webstack-host"

	check := func(step, key, secret, token string, fetches int) {
		t.Helper()
		reqs := a.requests()
		r := reqs[len(reqs)-1]
		r.request.Header = r.header
		verifySigned(t, r.request, r.body, key, secret)
		if got := r.header.Get("X-Amz-Security-Token"); got != token {
			t.Errorf("%s: X-Amz-Security-Token %q, want %q", step, got, token)
		}
		if _, n := m.counts(rolePath); n != fetches {
			t.Errorf("%s: credentials fetched %d times, want %d", step, n, fetches)
		}
	}

	for range 2 {
		if _, err := c.DescribeGroup(ctx, "webstack-prod-web"); err != nil {
			t.Fatal(err)
		}
	}
	check("cached", "ASIAROLE1", "secret1", "token1", 1)

	clock = now.Add(54 * time.Minute)
	if _, err := c.DescribeGroup(ctx, "webstack-prod-web"); err != nil {
		t.Fatal(err)
	}
	check("6 minutes before expiry", "ASIAROLE1", "secret1", "token1", 1)

	clock = now.Add(56 * time.Minute)
	if _, err := c.DescribeGroup(ctx, "webstack-prod-web"); err != nil {
		t.Fatal(err)
	}
	check("4 minutes before expiry", "ASIAROLE2", "secret2", "token2", 2)

	expired = true
	if _, err := c.DescribeGroup(ctx, "webstack-prod-web"); err != nil {
		t.Fatal(err)
	}
	check("after ExpiredToken", "ASIAROLE3", "secret3", "token3", 3)
}

// TestClientEnvCredentialsWin: the environment's credentials are used even
// with a metadata client.
func TestClientEnvCredentialsWin(t *testing.T) {
	m := newIMDS(t)
	md := newTestMetadata(t, m)
	a := newAPI(t, func(int, received) answer { return answer{body: describeGroupsAnswer} })
	t.Setenv(EnvEndpointAutoScaling, a.URL)
	t.Setenv(EnvAccessKeyID, exampleKeyID)
	t.Setenv(EnvSecretAccessKey, exampleSecret)
	c := NewClient("us-east-1", md)
	if _, err := c.DescribeGroup(context.Background(), "webstack-prod-web"); err != nil {
		t.Fatal(err)
	}
	r := a.requests()[0]
	r.request.Header = r.header
	verifySigned(t, r.request, r.body, exampleKeyID, exampleSecret)
	if puts, _ := m.counts(""); puts != 0 {
		t.Errorf("the metadata service was asked (%d tokens)", puts)
	}
}
