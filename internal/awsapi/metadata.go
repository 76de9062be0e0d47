package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EnvMetadataEndpoint overrides the instance metadata service's address
// (default DefaultMetadataEndpoint), e.g. "http://10.77.0.1:8085/".
const EnvMetadataEndpoint = "AWS_EC2_METADATA_SERVICE_ENDPOINT"

// DefaultMetadataEndpoint is the instance metadata service's address on
// EC2.
const DefaultMetadataEndpoint = "http://169.254.169.254"

const (
	// metadataTokenTTL is the lifetime asked for an IMDSv2 token (the
	// maximum the service grants).
	metadataTokenTTL = 21600 * time.Second
	// metadataTokenRenew: a token is renewed this long before it expires.
	metadataTokenRenew = 5 * time.Minute
	// metadataTimeout bounds one request to the service.
	metadataTimeout = 2 * time.Second
	// metadataMaxBody bounds what is read of an answer.
	metadataMaxBody = 1 << 20

	headerTokenTTL = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	headerToken    = "X-Aws-Ec2-Metadata-Token"
)

// Credentials are temporary or long-term AWS credentials.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
	// SessionToken is set for temporary credentials (the instance's role).
	SessionToken string
	// Expires is when temporary credentials expire; zero if they do not.
	Expires time.Time
}

// Metadata is a client of the instance metadata service, IMDSv2 only: it
// gets a session token (PUT /latest/api/token), caches it, renews it
// before it expires or when the service refuses it (401), and sends it
// with every GET. It implements InstanceMetadata. Safe for concurrent use.
type Metadata struct {
	endpoint string // without a trailing slash
	hc       *http.Client
	now      func() time.Time
	timeout  time.Duration // of one request

	mu           sync.Mutex
	token        string
	tokenExpires time.Time
}

var _ InstanceMetadata = (*Metadata)(nil)

// NewMetadata returns a client of the instance metadata service at
// $AWS_EC2_METADATA_SERVICE_ENDPOINT, or at http://169.254.169.254 when the
// variable is unset. Every request is bounded by 2 seconds (on top of the
// caller's context); no proxy is ever used.
func NewMetadata() *Metadata {
	endpoint := strings.TrimSpace(os.Getenv(EnvMetadataEndpoint))
	if endpoint == "" {
		endpoint = DefaultMetadataEndpoint
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the metadata service is link-local: never through a proxy
	return &Metadata{
		endpoint: strings.TrimRight(endpoint, "/"),
		hc:       &http.Client{Transport: tr},
		now:      time.Now,
		timeout:  metadataTimeout,
	}
}

// Endpoint is the base URL of the metadata service this client asks.
func (m *Metadata) Endpoint() string { return m.endpoint }

// InstanceID is meta-data/instance-id.
func (m *Metadata) InstanceID(ctx context.Context) (string, error) {
	return m.getString(ctx, "meta-data/instance-id")
}

// AvailabilityZone is meta-data/placement/availability-zone.
func (m *Metadata) AvailabilityZone(ctx context.Context) (string, error) {
	return m.getString(ctx, "meta-data/placement/availability-zone")
}

// TargetLifecycleState is meta-data/autoscaling/target-lifecycle-state, ""
// when the service has none (404: the instance is in no Auto Scaling
// group).
func (m *Metadata) TargetLifecycleState(ctx context.Context) (string, error) {
	const path = "meta-data/autoscaling/target-lifecycle-state"
	body, status, err := m.get(ctx, path)
	if err != nil {
		return "", err
	}
	switch {
	case status == http.StatusNotFound:
		return "", nil
	case status != http.StatusOK:
		return "", statusError(path, status, body)
	}
	return strings.TrimSpace(string(body)), nil
}

// Credentials are the temporary credentials of the instance's role
// (meta-data/iam/security-credentials/ names the role, then
// meta-data/iam/security-credentials/<role> gives them).
func (m *Metadata) Credentials(ctx context.Context) (Credentials, error) {
	const dir = "meta-data/iam/security-credentials/"
	roles, err := m.getString(ctx, dir)
	if err != nil {
		return Credentials{}, fmt.Errorf("instance role: %w", err)
	}
	role := ""
	for _, line := range strings.Split(roles, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			role = line
			break
		}
	}
	if role == "" || strings.ContainsAny(role, "/?#") {
		return Credentials{}, fmt.Errorf("instance role: imds GET %s: no usable role name in %q", dir, roles)
	}
	body, err := m.getString(ctx, dir+role)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials of role %s: %w", role, err)
	}
	var doc struct {
		Code            string
		Message         string
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		Token           string
		Expiration      string
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return Credentials{}, fmt.Errorf("credentials of role %s: imds GET %s%s: bad JSON: %w", role, dir, role, err)
	}
	if doc.Code != "" && doc.Code != "Success" {
		return Credentials{}, fmt.Errorf("credentials of role %s: imds answers %s: %s", role, doc.Code, doc.Message)
	}
	if doc.AccessKeyID == "" || doc.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("credentials of role %s: imds GET %s%s: no AccessKeyId or SecretAccessKey", role, dir, role)
	}
	c := Credentials{AccessKeyID: doc.AccessKeyID, SecretAccessKey: doc.SecretAccessKey, SessionToken: doc.Token}
	if doc.Expiration != "" {
		exp, err := time.Parse(time.RFC3339, doc.Expiration)
		if err != nil {
			return Credentials{}, fmt.Errorf("credentials of role %s: bad Expiration %q: %w", role, doc.Expiration, err)
		}
		c.Expires = exp
	}
	return c, nil
}

// getString GETs path and requires a 200.
func (m *Metadata) getString(ctx context.Context, path string) (string, error) {
	body, status, err := m.get(ctx, path)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", statusError(path, status, body)
	}
	return strings.TrimSpace(string(body)), nil
}

func statusError(path string, status int, body []byte) error {
	return fmt.Errorf("imds GET %s: HTTP %d %s%s", path, status, http.StatusText(status), snippet(body))
}

// snippet is the start of an answer's body for an error message.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return ": " + s
}

// get GETs /latest/<path> with a token, getting a new token once if the
// service refuses the cached one.
func (m *Metadata) get(ctx context.Context, path string) ([]byte, int, error) {
	for attempt := 0; ; attempt++ {
		token, err := m.sessionToken(ctx)
		if err != nil {
			return nil, 0, err
		}
		body, status, err := m.do(ctx, http.MethodGet, path, http.Header{headerToken: {token}})
		if err != nil {
			return nil, 0, fmt.Errorf("imds GET %s: %w", path, err)
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			m.dropToken(token)
			continue
		}
		return body, status, nil
	}
}

// sessionToken is the cached token, or a new one if there is none or it
// expires soon.
func (m *Metadata) sessionToken(ctx context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.token != "" && now.Before(m.tokenExpires.Add(-metadataTokenRenew)) {
		return m.token, nil
	}
	ttl := strconv.Itoa(int(metadataTokenTTL / time.Second))
	body, status, err := m.do(ctx, http.MethodPut, "api/token", http.Header{headerTokenTTL: {ttl}})
	if err != nil {
		return "", fmt.Errorf("imds PUT api/token: %w", err)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("imds PUT api/token: HTTP %d %s%s", status, http.StatusText(status), snippet(body))
	}
	token := strings.TrimSpace(string(body))
	if token == "" {
		return "", errors.New("imds PUT api/token: empty token")
	}
	m.token = token
	m.tokenExpires = now.Add(metadataTokenTTL)
	return token, nil
}

// dropToken forgets token if it is still the cached one.
func (m *Metadata) dropToken(token string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.token == token {
		m.token = ""
	}
}

// do sends one request to /latest/<path>, bounded by metadataTimeout.
func (m *Metadata) do(ctx context.Context, method, path string, h http.Header) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, m.endpoint+"/latest/"+path, nil)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, metadataMaxBody))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the answer: %w", err)
	}
	return body, resp.StatusCode, nil
}
