// Package fakeaws is a fake AWS for tests and the sandbox: an HTTP server
// (Handler) that speaks the part of the Auto Scaling and EC2 Query APIs
// and of the instance metadata service (IMDSv2) that package awsapi
// calls, on behalf of a Cloud, so that the agent's own client code
// (awsapi.Client, awsapi.Metadata) runs against it unchanged. Memory is a
// small in-memory Cloud for tests.
//
// Point a client at it with the standard variables, the server at
// http://10.77.0.1:8085 for instance:
//
//	AWS_ENDPOINT_URL_AUTO_SCALING=http://10.77.0.1:8085/autoscaling
//	AWS_ENDPOINT_URL_EC2=http://10.77.0.1:8085/ec2
//	AWS_EC2_METADATA_SERVICE_ENDPOINT=http://10.77.0.1:8085/
//
// The metadata service answers each caller about the instance whose
// address it calls from (Cloud.Identify of the request's remote IP), and
// its role credentials are AccessKeyID, SecretAccessKey and SessionToken.
package fakeaws

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

// The fake credentials of every instance role. Requests signed with
// AccessKeyID have their signature verified with SecretAccessKey.
const (
	// AccessKeyID is the fake role credentials' key id.
	AccessKeyID = "ASIAFAKEWEBSTACK0001"
	// SecretAccessKey is the fake role credentials' secret.
	SecretAccessKey = "fakewebstacksecret/K7MDENG/bPxRfiCYEXAMPLEKEY"
	// SessionToken is the fake role credentials' session token.
	SessionToken = "FakeWebstackSessionToken"
)

// Namespaces of the Query APIs' answers.
const (
	// AutoScalingNamespace is the namespace of Auto Scaling's answers.
	AutoScalingNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
	// EC2Namespace is the namespace of EC2's answers.
	EC2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"
)

// Identity is what the metadata service answers a host: who it is, found
// by its private address.
type Identity = awsapi.Identity

// Cloud is what Handler serves: the Auto Scaling and EC2 APIs, and the
// identity of the host at each address.
type Cloud interface {
	awsapi.AutoScaling
	awsapi.EC2
	// Identify is the identity of the host whose address is ip; false if
	// no host has it.
	Identify(ip string) (Identity, bool)
}

const (
	maxTokenTTL = 21600
	maxBody     = 1 << 20
)

// handler serves a Cloud over HTTP.
type handler struct {
	cloud Cloud
	now   func() time.Time

	mu     sync.Mutex
	tokens map[string]time.Time // IMDSv2 token → expiry
}

// Handler serves c over HTTP:
//
//   - POST /autoscaling: the Auto Scaling actions DescribeAutoScalingGroups,
//     CompleteLifecycleAction, RecordLifecycleActionHeartbeat,
//     SetInstanceHealth, SetDesiredCapacity, StartInstanceRefresh and
//     DescribeInstanceRefreshes (API version 2011-01-01);
//   - POST /ec2: DescribeInstances (API version 2016-11-15);
//   - POST / (or any other path): either API, chosen by the service the
//     request's SigV4 credential scope names (for AWS_ENDPOINT_URL);
//   - /latest/: IMDSv2 — PUT /latest/api/token, then GET
//     meta-data/instance-id, meta-data/placement/availability-zone,
//     meta-data/autoscaling/target-lifecycle-state,
//     meta-data/iam/security-credentials/ and …/<role>.
//
// DescribeAutoScalingGroups lists the named groups the Cloud knows and
// leaves out the others, as AWS does (without names it lists none: a
// Cloud cannot enumerate its groups).
//
// API calls need a SigV4 Authorization header scoped to the right service
// (autoscaling or ec2), else 403 (IncompleteSignature,
// SignatureDoesNotMatch); the signature itself is verified only for the
// fake AccessKeyID (other keys, such as a test's environment, are
// accepted unverified). Errors of the Cloud that are *awsapi.APIError keep
// their code and status; any other is a 400 ValidationError (Auto Scaling)
// or InvalidParameterValue (EC2).
func Handler(c Cloud) http.Handler {
	return &handler{cloud: c, now: time.Now, tokens: map[string]time.Time{}}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/latest" || strings.HasPrefix(r.URL.Path, "/latest/") {
		h.metadata(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "the Query APIs take POST", http.StatusMethodNotAllowed)
		return
	}
	switch strings.TrimRight(r.URL.Path, "/") {
	case "/autoscaling":
		h.query(w, r, autoscalingAPI)
	case "/ec2":
		h.query(w, r, ec2API)
	default:
		// One endpoint for both: the signature says which service.
		switch scopeService(r.Header.Get("Authorization")) {
		case autoscalingAPI.service:
			h.query(w, r, autoscalingAPI)
		case ec2API.service:
			h.query(w, r, ec2API)
		default:
			writeError(w, autoscalingAPI, http.StatusForbidden, "IncompleteSignature",
				"no SigV4 Authorization header naming service autoscaling or ec2 in its credential scope")
		}
	}
}

// metadata serves the IMDSv2 paths.
func (h *handler) metadata(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/latest/")
	if path == "api/token" {
		if r.Method != http.MethodPut {
			w.Header().Set("Allow", http.MethodPut)
			http.Error(w, "a token is PUT", http.StatusMethodNotAllowed)
			return
		}
		h.newToken(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "metadata is read with GET", http.StatusMethodNotAllowed)
		return
	}
	if !h.validToken(r.Header.Get("X-Aws-Ec2-Metadata-Token")) {
		http.Error(w, "Unauthorized: a valid X-aws-ec2-metadata-token is required", http.StatusUnauthorized)
		return
	}
	ip := remoteIP(r)
	id, ok := h.cloud.Identify(ip)
	if !ok {
		http.Error(w, "Not Found: no instance has address "+ip, http.StatusNotFound)
		return
	}
	text := func(s string) {
		if s == "" {
			http.Error(w, "Not Found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, s)
	}
	const creds = "meta-data/iam/security-credentials/"
	switch {
	case path == "meta-data/instance-id":
		text(id.InstanceID)
	case path == "meta-data/placement/availability-zone":
		text(id.AvailabilityZone)
	case path == "meta-data/autoscaling/target-lifecycle-state":
		text(id.TargetLifecycleState)
	case path == creds || path+"/" == creds:
		text(id.Role)
	case strings.HasPrefix(path, creds):
		role := strings.TrimSuffix(strings.TrimPrefix(path, creds), "/")
		if id.Role == "" || role != id.Role {
			http.Error(w, "Not Found", http.StatusNotFound)
			return
		}
		now := h.now().UTC()
		w.Header().Set("Content-Type", "text/plain")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"Code":            "Success",
			"LastUpdated":     now.Format(time.RFC3339),
			"Type":            "AWS-HMAC",
			"AccessKeyId":     AccessKeyID,
			"SecretAccessKey": SecretAccessKey,
			"Token":           SessionToken,
			"Expiration":      now.Add(time.Hour).Format(time.RFC3339),
		})
	default:
		http.Error(w, "Not Found", http.StatusNotFound)
	}
}

// newToken answers PUT /latest/api/token.
func (h *handler) newToken(w http.ResponseWriter, r *http.Request) {
	ttl, err := strconv.Atoi(r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
	if err != nil || ttl < 1 || ttl > maxTokenTTL {
		http.Error(w, fmt.Sprintf("Bad Request: X-aws-ec2-metadata-token-ttl-seconds must be 1 to %d seconds", maxTokenTTL), http.StatusBadRequest)
		return
	}
	token := "AQAEA" + randomHex(24)
	now := h.now()
	h.mu.Lock()
	for t, exp := range h.tokens {
		if !now.Before(exp) {
			delete(h.tokens, t)
		}
	}
	h.tokens[token] = now.Add(time.Duration(ttl) * time.Second)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", strconv.Itoa(ttl))
	fmt.Fprint(w, token)
}

func (h *handler) validToken(token string) bool {
	if token == "" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.tokens[token]
	return ok && h.now().Before(exp)
}

// expireTokens makes every token issued so far invalid (for tests of a
// client's renewal).
func (h *handler) expireTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.tokens)
}

// remoteIP is the address a request came from.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// requestID is a fresh AWS-style request id.
func requestID() string {
	s := randomHex(16)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}
