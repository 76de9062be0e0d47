package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/foobar/webstack/internal/rdsca"
)

// dbTLSMinVersion: RDS offers TLS 1.2 and 1.3 on every current engine.
const dbTLSMinVersion = tls.VersionTLS12

// dbTLSConfig is the TLS configuration of every database connection, for
// both engines: the server's certificate must chain to roots and name host
// (a DNS name, or an IP address matched against the certificate's IP
// addresses). There is deliberately no way to turn verification off.
func dbTLSConfig(host string, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		RootCAs:    roots,
		ServerName: host,
		MinVersion: dbTLSMinVersion,
	}
}

// loadRoots returns the CAs the database's certificate must chain to and a
// description for the log: the PEM file caFile (WEBSTACK_DB_CA_FILE) if
// set, else the RDS CA bundle embedded in the binary, checked against its
// pinned SHA-256. A file that is missing, unreadable or holds anything but
// CA certificates is an error naming it: the application never falls back
// to another CA or to no verification.
func loadRoots(caFile string) (*x509.CertPool, string, error) {
	if caFile == "" {
		pool, err := rdsca.Pool()
		if err != nil {
			return nil, "", err
		}
		return pool, fmt.Sprintf("embedded RDS CA bundle (sha256 %s)", rdsca.BundleSHA256[:16]), nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		// The *PathError names the file.
		return nil, "", fmt.Errorf("%s: %w", envCAFile, err)
	}
	pool, err := rdsca.ParsePEM(data, fmt.Sprintf("%s=%s", envCAFile, caFile))
	if err != nil {
		return nil, "", err
	}
	return pool, caFile, nil
}
