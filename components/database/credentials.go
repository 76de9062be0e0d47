package database

import "github.com/foobar/webstack/components/database/dbsecret"

// TLSMode is the secret's "tls" value: clients encrypt and verify the
// server's certificate chain (CertIdentifier's root, in the RDS CA bundle)
// and host name.
const TLSMode = dbsecret.TLSVerifyFull

// Secret is the JSON document the database secret holds; the application
// reads it at start (dbsecret owns its shape).
type Secret = dbsecret.Secret

func credentialsJSON(engine, host string, port int, dbname, username, password string) (string, error) {
	return Secret{Engine: engine, Host: host, Port: port, DBName: dbname, Username: username, Password: password, TLS: TLSMode}.JSON()
}
