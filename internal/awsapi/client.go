package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/aws/smithy-go/aws-http-auth/sigv4"
)

// Environment variables the Client honours.
const (
	// EnvEndpointAutoScaling is the Auto Scaling endpoint's full URL
	// (requests are POSTed to exactly that URL, path included).
	EnvEndpointAutoScaling = "AWS_ENDPOINT_URL_AUTO_SCALING"
	// EnvEndpointEC2 is the EC2 endpoint's full URL.
	EnvEndpointEC2 = "AWS_ENDPOINT_URL_EC2"
	// EnvEndpoint is the endpoint of every service that has no
	// service-specific variable.
	EnvEndpoint = "AWS_ENDPOINT_URL"
	// EnvAccessKeyID, EnvSecretAccessKey and EnvSessionToken are static
	// credentials, used instead of the instance role's when the first two
	// are set.
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
	// EnvRegion and EnvDefaultRegion give the region when NewClient is
	// given none.
	EnvRegion        = "AWS_REGION"
	EnvDefaultRegion = "AWS_DEFAULT_REGION"
)

// API versions of the Query protocol.
const (
	// AutoScalingAPIVersion is the Version parameter of Auto Scaling calls.
	AutoScalingAPIVersion = "2011-01-01"
	// EC2APIVersion is the Version parameter of EC2 calls.
	EC2APIVersion = "2016-11-15"
)

const (
	// requestTimeout bounds one attempt of an API call.
	requestTimeout = 5 * time.Second
	// maxRetries is how many times a throttled or failed (5xx) call is
	// retried.
	maxRetries = 3
	// firstBackoff is the wait before the first retry; it doubles with
	// every retry, with jitter.
	firstBackoff = 200 * time.Millisecond
	// credentialsEarly: cached role credentials are renewed this long
	// before they expire.
	credentialsEarly = 5 * time.Minute
	// maxAnswer bounds what is read of an API answer.
	maxAnswer = 16 << 20
	// maxPages bounds how many pages of a paginated answer are followed.
	maxPages = 20
	// instancesPerCall is how many ids one DescribeInstances call asks.
	instancesPerCall = 100
)

// service is one of the two APIs the Client calls.
type service struct {
	name     string // SigV4 service name: autoscaling, ec2
	version  string
	endpoint string
}

// Client calls the Auto Scaling and EC2 APIs over the Query protocol,
// signing its requests with SigV4. It implements AutoScaling and EC2.
// Errors wrap an *APIError when the API answered one (use errors.As).
// Safe for concurrent use.
type Client struct {
	region      string
	md          *Metadata
	autoscaling service
	ec2         service
	hc          *http.Client
	signer      *sigv4.Signer

	// static are credentials from the environment (nil: the role's).
	static *Credentials

	// Seams for tests.
	now     func() time.Time
	backoff time.Duration // first wait before a retry
	timeout time.Duration // of one attempt

	mu    sync.Mutex
	creds *Credentials // cached role credentials
}

var (
	_ AutoScaling = (*Client)(nil)
	_ EC2         = (*Client)(nil)
)

// NewClient returns a client of the Auto Scaling and EC2 APIs of region
// (if "", $AWS_REGION, then $AWS_DEFAULT_REGION).
//
// Endpoints: $AWS_ENDPOINT_URL_AUTO_SCALING and $AWS_ENDPOINT_URL_EC2 (then
// $AWS_ENDPOINT_URL) if set, else https://autoscaling.<region>.amazonaws.com
// and https://ec2.<region>.amazonaws.com (amazonaws.com.cn for cn-
// regions).
//
// Credentials: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and
// $AWS_SESSION_TOKEN when the first two are set, else the instance role's
// from md (nil: no role), cached until 5 minutes before they expire. The
// environment is read here, once.
func NewClient(region string, md *Metadata) *Client {
	if region == "" {
		region = os.Getenv(EnvRegion)
	}
	if region == "" {
		region = os.Getenv(EnvDefaultRegion)
	}
	c := &Client{
		region:      region,
		md:          md,
		autoscaling: service{name: "autoscaling", version: AutoScalingAPIVersion, endpoint: endpoint(EnvEndpointAutoScaling, "autoscaling", region)},
		ec2:         service{name: "ec2", version: EC2APIVersion, endpoint: endpoint(EnvEndpointEC2, "ec2", region)},
		hc:          &http.Client{},
		signer:      sigv4.New(),
		now:         time.Now,
		backoff:     firstBackoff,
		timeout:     requestTimeout,
	}
	if id, secret := os.Getenv(EnvAccessKeyID), os.Getenv(EnvSecretAccessKey); id != "" && secret != "" {
		c.static = &Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: os.Getenv(EnvSessionToken)}
	}
	return c
}

// endpoint is the URL of a service: from the environment, else AWS's.
func endpoint(env, prefix, region string) string {
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v
	}
	if v := strings.TrimSpace(os.Getenv(EnvEndpoint)); v != "" {
		return v
	}
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://" + prefix + "." + region + "." + suffix
}

// Region is the region the client signs for.
func (c *Client) Region() string { return c.region }

// AutoScalingEndpoint is the URL the client POSTs Auto Scaling calls to.
func (c *Client) AutoScalingEndpoint() string { return c.autoscaling.endpoint }

// EC2Endpoint is the URL the client POSTs EC2 calls to.
func (c *Client) EC2Endpoint() string { return c.ec2.endpoint }

// DescribeGroup describes one group (DescribeAutoScalingGroups); an
// *APIError with code ValidationError if there is none.
func (c *Client) DescribeGroup(ctx context.Context, name string) (Group, error) {
	var out struct {
		Groups []struct {
			Name            string `xml:"AutoScalingGroupName"`
			MinSize         int    `xml:"MinSize"`
			MaxSize         int    `xml:"MaxSize"`
			DesiredCapacity int    `xml:"DesiredCapacity"`
			Instances       []struct {
				InstanceID            string `xml:"InstanceId"`
				AvailabilityZone      string `xml:"AvailabilityZone"`
				LifecycleState        string `xml:"LifecycleState"`
				HealthStatus          string `xml:"HealthStatus"`
				LaunchTemplateVersion string `xml:"LaunchTemplate>Version"`
			} `xml:"Instances>member"`
		} `xml:"DescribeAutoScalingGroupsResult>AutoScalingGroups>member"`
	}
	params := url.Values{"AutoScalingGroupNames.member.1": {name}}
	if err := c.call(ctx, c.autoscaling, "DescribeAutoScalingGroups", "group "+name, params, &out); err != nil {
		return Group{}, err
	}
	for _, g := range out.Groups {
		if g.Name != name {
			continue
		}
		group := Group{Name: g.Name, MinSize: g.MinSize, MaxSize: g.MaxSize, DesiredCapacity: g.DesiredCapacity}
		for _, i := range g.Instances {
			group.Instances = append(group.Instances, GroupInstance(i))
		}
		return group, nil
	}
	return Group{}, fmt.Errorf("autoscaling DescribeAutoScalingGroups group %s: %w", name, &APIError{
		Code:       "ValidationError",
		Message:    "AutoScalingGroup name not found - no group named " + name,
		StatusCode: http.StatusBadRequest,
	})
}

// CompleteLifecycleAction ends hook's wait for instanceID with result
// (Continue or Abandon).
func (c *Client) CompleteLifecycleAction(ctx context.Context, group, hook, instanceID, result string) error {
	params := url.Values{
		"AutoScalingGroupName":  {group},
		"LifecycleHookName":     {hook},
		"InstanceId":            {instanceID},
		"LifecycleActionResult": {result},
	}
	return c.call(ctx, c.autoscaling, "CompleteLifecycleAction",
		fmt.Sprintf("group %s hook %s instance %s result %s", group, hook, instanceID, result), params, nil)
}

// RecordLifecycleActionHeartbeat restarts hook's timeout for instanceID.
func (c *Client) RecordLifecycleActionHeartbeat(ctx context.Context, group, hook, instanceID string) error {
	params := url.Values{
		"AutoScalingGroupName": {group},
		"LifecycleHookName":    {hook},
		"InstanceId":           {instanceID},
	}
	return c.call(ctx, c.autoscaling, "RecordLifecycleActionHeartbeat",
		fmt.Sprintf("group %s hook %s instance %s", group, hook, instanceID), params, nil)
}

// SetInstanceHealth marks instanceID Healthy or Unhealthy.
func (c *Client) SetInstanceHealth(ctx context.Context, instanceID, status string, respectGracePeriod bool) error {
	params := url.Values{
		"InstanceId":               {instanceID},
		"HealthStatus":             {status},
		"ShouldRespectGracePeriod": {strconv.FormatBool(respectGracePeriod)},
	}
	return c.call(ctx, c.autoscaling, "SetInstanceHealth",
		fmt.Sprintf("instance %s status %s", instanceID, status), params, nil)
}

// SetDesiredCapacity sets group's desired capacity (cooldowns are not
// honoured).
func (c *Client) SetDesiredCapacity(ctx context.Context, group string, desired int) error {
	params := url.Values{
		"AutoScalingGroupName": {group},
		"DesiredCapacity":      {strconv.Itoa(desired)},
	}
	return c.call(ctx, c.autoscaling, "SetDesiredCapacity",
		fmt.Sprintf("group %s desired %d", group, desired), params, nil)
}

// StartInstanceRefresh starts a rolling refresh of group and returns its
// id. maxHealthy 0 leaves MaxHealthyPercentage out (the API's default,
// 100).
func (c *Client) StartInstanceRefresh(ctx context.Context, group string, minHealthy, maxHealthy int) (string, error) {
	params := url.Values{
		"AutoScalingGroupName":             {group},
		"Strategy":                         {"Rolling"},
		"Preferences.MinHealthyPercentage": {strconv.Itoa(minHealthy)},
	}
	if maxHealthy != 0 {
		params.Set("Preferences.MaxHealthyPercentage", strconv.Itoa(maxHealthy))
	}
	var out struct {
		ID string `xml:"StartInstanceRefreshResult>InstanceRefreshId"`
	}
	what := fmt.Sprintf("group %s", group)
	if err := c.call(ctx, c.autoscaling, "StartInstanceRefresh", what, params, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", fmt.Errorf("autoscaling StartInstanceRefresh %s: the answer has no InstanceRefreshId", what)
	}
	return out.ID, nil
}

// DescribeInstanceRefreshes lists group's refreshes, newest first (every
// page, up to 20).
func (c *Client) DescribeInstanceRefreshes(ctx context.Context, group string) ([]InstanceRefresh, error) {
	var refreshes []InstanceRefresh
	next := ""
	for page := 0; page < maxPages; page++ {
		params := url.Values{"AutoScalingGroupName": {group}}
		if next != "" {
			params.Set("NextToken", next)
		}
		var out struct {
			Refreshes []struct {
				ID                 string `xml:"InstanceRefreshId"`
				Status             string `xml:"Status"`
				PercentageComplete int    `xml:"PercentageComplete"`
			} `xml:"DescribeInstanceRefreshesResult>InstanceRefreshes>member"`
			NextToken string `xml:"DescribeInstanceRefreshesResult>NextToken"`
		}
		if err := c.call(ctx, c.autoscaling, "DescribeInstanceRefreshes", "group "+group, params, &out); err != nil {
			return nil, err
		}
		for _, r := range out.Refreshes {
			refreshes = append(refreshes, InstanceRefresh(r))
		}
		if out.NextToken == "" || out.NextToken == next {
			break
		}
		next = out.NextToken
	}
	return refreshes, nil
}

// DescribeInstances describes instances by id, in the order the API lists
// them; no ids, no call. Ids that do not exist are an *APIError with code
// InvalidInstanceID.NotFound.
func (c *Client) DescribeInstances(ctx context.Context, ids []string) ([]Instance, error) {
	var instances []Instance
	for start := 0; start < len(ids); start += instancesPerCall {
		batch := ids[start:min(start+instancesPerCall, len(ids))]
		next := ""
		for page := 0; page < maxPages; page++ {
			params := url.Values{}
			for i, id := range batch {
				params.Set("InstanceId."+strconv.Itoa(i+1), id)
			}
			if next != "" {
				params.Set("NextToken", next)
			}
			var out struct {
				Instances []struct {
					InstanceID       string `xml:"instanceId"`
					PrivateIP        string `xml:"privateIpAddress"`
					AvailabilityZone string `xml:"placement>availabilityZone"`
					State            string `xml:"instanceState>name"`
				} `xml:"reservationSet>item>instancesSet>item"`
				NextToken string `xml:"nextToken"`
			}
			what := "instances " + strings.Join(batch, " ")
			if err := c.call(ctx, c.ec2, "DescribeInstances", what, params, &out); err != nil {
				return nil, err
			}
			for _, i := range out.Instances {
				instances = append(instances, Instance(i))
			}
			if out.NextToken == "" || out.NextToken == next {
				break
			}
			next = out.NextToken
		}
	}
	return instances, nil
}

// call POSTs action with params to svc, retrying throttling and server
// errors, and decodes a successful answer into out (if not nil). what
// names the call's subject in errors.
func (c *Client) call(ctx context.Context, svc service, action, what string, params url.Values, out any) error {
	fail := func(err error) error {
		return fmt.Errorf("%s %s %s: %w", svc.name, action, what, err)
	}
	body := "Action=" + url.QueryEscape(action) + "&Version=" + url.QueryEscape(svc.version)
	if len(params) > 0 {
		body += "&" + params.Encode()
	}
	for attempt := 0; ; attempt++ {
		answer, status, err := c.attempt(ctx, svc, body)
		if err == nil && status/100 == 2 {
			if out == nil {
				return nil
			}
			if err := xml.Unmarshal(answer, out); err != nil {
				return fail(fmt.Errorf("decoding the answer (HTTP %d): %w", status, err))
			}
			return nil
		}
		var requestID string
		if err == nil {
			var apiErr *APIError
			apiErr, requestID = parseError(answer, status)
			err = apiErr
		}
		if ctx.Err() != nil {
			return fail(errors.Join(err, ctx.Err()))
		}
		if requestID != "" {
			err = fmt.Errorf("request %s: %w", requestID, err)
		}
		if attempt >= maxRetries || !c.retryable(err) {
			if attempt > 0 {
				err = fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return fail(err)
		}
		if wait := c.wait(ctx, attempt); wait != nil {
			return fail(errors.Join(err, wait))
		}
	}
}

// attempt sends one signed request.
func (c *Client) attempt(ctx context.Context, svc service, body string) ([]byte, int, error) {
	if c.region == "" {
		return nil, 0, &permanentError{errors.New("no region: none given and AWS_REGION is unset")}
	}
	creds, err := c.credentials(ctx)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, svc.endpoint, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, 0, &permanentError{fmt.Errorf("endpoint %q: %w", svc.endpoint, err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "webstack-awsapi")
	hash := sha256.Sum256([]byte(body))
	err = c.signer.SignRequest(&sigv4.SignRequestInput{
		Request:     req,
		PayloadHash: hash[:],
		Credentials: credentials.Credentials{
			AccessKeyID:     creds.AccessKeyID,
			SecretAccessKey: creds.SecretAccessKey,
			SessionToken:    creds.SessionToken,
			Expires:         creds.Expires,
		},
		Service: svc.name,
		Region:  c.region,
		Time:    c.now(),
	})
	if err != nil {
		return nil, 0, &permanentError{fmt.Errorf("signing: %w", err)}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the answer (HTTP %d): %w", resp.StatusCode, err)
	}
	return answer, resp.StatusCode, nil
}

// parseError reads an error answer: Auto Scaling's ErrorResponse or EC2's
// Response/Errors; anything else becomes an APIError named after the
// status.
func parseError(body []byte, status int) (*APIError, string) {
	var doc struct {
		Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		Errors []struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Errors>Error"`
		RequestID    string `xml:"RequestId"`
		RequestIDEC2 string `xml:"RequestID"`
	}
	e := &APIError{StatusCode: status}
	if xml.Unmarshal(body, &doc) == nil {
		switch {
		case doc.Error.Code != "":
			e.Code, e.Message = doc.Error.Code, doc.Error.Message
		case len(doc.Errors) > 0 && doc.Errors[0].Code != "":
			e.Code, e.Message = doc.Errors[0].Code, doc.Errors[0].Message
		}
	}
	if e.Code == "" {
		e.Code = strings.ReplaceAll(http.StatusText(status), " ", "")
		if e.Code == "" {
			e.Code = "HTTP" + strconv.Itoa(status)
		}
		e.Message = strings.TrimPrefix(snippet(body), ": ")
		if e.Message == "" {
			e.Message = "the answer is no AWS error document"
		}
	}
	id := doc.RequestID
	if id == "" {
		id = doc.RequestIDEC2
	}
	return e, id
}

// throttlingCodes are the error codes of a throttled call.
var throttlingCodes = map[string]bool{
	"Throttling":               true,
	"ThrottlingException":      true,
	"ThrottledException":       true,
	"RequestLimitExceeded":     true,
	"RequestThrottled":         true,
	"TooManyRequestsException": true,
	"Rate exceeded":            true,
}

// IsThrottling reports whether err is (or wraps) an APIError of a
// throttled call.
func IsThrottling(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return throttlingCodes[e.Code] || e.Message == "Rate exceeded" || e.StatusCode == http.StatusTooManyRequests
}

// retryable: throttling, 5xx answers, expired role credentials (renewed
// before the retry) and transport errors.
func (c *Client) retryable(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		// No answer: connection refused or reset, per-attempt timeout.
		var p *permanentError
		return !errors.As(err, &p)
	}
	if IsThrottling(err) || e.StatusCode >= 500 {
		return true
	}
	if e.Code == "ExpiredToken" || e.Code == "RequestExpired" {
		return c.forgetCredentials()
	}
	return false
}

// wait sleeps before retry number attempt+1 (see backoffDelay); ctx cuts
// it short.
func (c *Client) wait(ctx context.Context, attempt int) error {
	t := time.NewTimer(backoffDelay(c.backoff, attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoffDelay is the wait before retry number attempt+1: first doubled
// with every attempt, jittered to between half and all of it.
func backoffDelay(first time.Duration, attempt int) time.Duration {
	d := first << attempt
	return d/2 + rand.N(d/2+1)
}

// permanentError is a failure before any request is sent that a retry
// would not cure: no region, a bad endpoint, no credentials (the metadata
// client has its own timeouts).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// credentials are the environment's, or the role's, cached until 5
// minutes before they expire.
func (c *Client) credentials(ctx context.Context) (Credentials, error) {
	if c.static != nil {
		return *c.static, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds != nil && (c.creds.Expires.IsZero() || c.now().Before(c.creds.Expires.Add(-credentialsEarly))) {
		return *c.creds, nil
	}
	if c.md == nil {
		return Credentials{}, &permanentError{errors.New("no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are unset and there is no instance metadata")}
	}
	creds, err := c.md.Credentials(ctx)
	if err != nil {
		if c.creds != nil && c.now().Before(c.creds.Expires) {
			// Still valid for a few minutes: use them, try again next call.
			return *c.creds, nil
		}
		return Credentials{}, &permanentError{fmt.Errorf("credentials: %w", err)}
	}
	c.creds = &creds
	return creds, nil
}

// forgetCredentials drops cached role credentials, so that the next call
// gets new ones; false if the credentials are static.
func (c *Client) forgetCredentials() bool {
	if c.static != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.creds = nil
	return true
}
