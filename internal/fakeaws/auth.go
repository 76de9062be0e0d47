package fakeaws

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/aws/smithy-go/aws-http-auth/sigv4"
	v4 "github.com/aws/smithy-go/aws-http-auth/v4"
)

const sigv4Algorithm = "AWS4-HMAC-SHA256"

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          string
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/20150830/
// us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date,
// Signature=…".
func parseAuthorization(header string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(header, sigv4Algorithm+" ")
	if !ok {
		if header == "" {
			return a, fmt.Errorf("no Authorization header: requests must be signed with SigV4 (%s)", sigv4Algorithm)
		}
		return a, fmt.Errorf("the Authorization header is not %s", sigv4Algorithm)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, fmt.Errorf("Authorization header: %q is no key=value pair", strings.TrimSpace(part))
		}
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return a, fmt.Errorf("Authorization header requires a '%s' parameter", k)
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != "aws4_request" {
		return a, fmt.Errorf("Authorization header: Credential %q must be <key>/<date>/<region>/<service>/aws4_request", fields["Credential"])
	}
	a.accessKeyID, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	a.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	a.signature = fields["Signature"]
	return a, nil
}

// scopeService is the service the credential scope of an Authorization
// header names, "" if none.
func scopeService(header string) string {
	a, err := parseAuthorization(header)
	if err != nil {
		return ""
	}
	return a.service
}

// checkAuth checks a request's SigV4 signature for service: the header's
// shape, the scope's service and date, and, for the fake AccessKeyID, the
// signature itself. It returns an error code and message, or "" if the
// request passes.
func checkAuth(r *http.Request, body []byte, service string) (code, message string) {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return "IncompleteSignature", err.Error()
	}
	if a.service != service {
		return "SignatureDoesNotMatch", fmt.Sprintf("Credential should be scoped to correct service: '%s' (the scope names '%s').", service, a.service)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signed, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return "IncompleteSignature", fmt.Sprintf("the request needs a valid X-Amz-Date header (got %q)", amzDate)
	}
	if a.date != amzDate[:8] {
		return "SignatureDoesNotMatch", fmt.Sprintf("Credential should be scoped to a valid date: '%s' is not the date of X-Amz-Date %s.", a.date, amzDate)
	}
	if !contains(a.signedHeaders, "host") {
		return "SignatureDoesNotMatch", "the Host header must be signed"
	}
	if a.accessKeyID != AccessKeyID {
		return "", "" // someone else's credentials (a test's environment): not verifiable here
	}
	want, err := signature(r, body, a, SecretAccessKey, signed)
	if err != nil {
		return "SignatureDoesNotMatch", "cannot verify the signature: " + err.Error()
	}
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	return "", ""
}

// signature computes the signature of a request as received, signing the
// headers its Authorization header lists, with secret.
func signature(r *http.Request, body []byte, a authorization, secret string, at time.Time) (string, error) {
	u := &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}}
	rules := signedSet{}
	for _, name := range a.signedHeaders {
		name = strings.ToLower(name)
		rules[name] = true
		switch name {
		case "host":
			// The signer sets it from req.Host.
		case "content-length":
			req.Header.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		default:
			if vs, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
				req.Header[http.CanonicalHeaderKey(name)] = vs
			}
		}
	}
	hash := sha256.Sum256(body)
	payload := hash[:]
	switch h := r.Header.Get("X-Amz-Content-Sha256"); h {
	case "":
	case "UNSIGNED-PAYLOAD":
		payload = v4.UnsignedPayload()
	default:
		if !strings.EqualFold(h, hex.EncodeToString(payload)) {
			return "", fmt.Errorf("X-Amz-Content-Sha256 %s is not the SHA-256 of the body", h)
		}
	}
	err := sigv4.New(func(o *v4.SignerOptions) { o.HeaderRules = rules }).SignRequest(&sigv4.SignRequestInput{
		Request:     req,
		PayloadHash: payload,
		Credentials: credentials.Credentials{
			AccessKeyID:     a.accessKeyID,
			SecretAccessKey: secret,
			SessionToken:    r.Header.Get("X-Amz-Security-Token"),
		},
		Service: a.service,
		Region:  a.region,
		Time:    at,
	})
	if err != nil {
		return "", err
	}
	got, err := parseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return "", err
	}
	return got.signature, nil
}

// signedSet signs exactly the headers the request says it signed.
type signedSet map[string]bool

func (s signedSet) IsSigned(h string) bool { return s[h] }

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
