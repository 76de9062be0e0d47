package database

import "encoding/json"

// TLSMode is the secret's "tls" value: clients encrypt and verify the
// server's certificate chain (CertIdentifier's root, in the RDS CA bundle)
// and host name.
const TLSMode = "verify-full"

// Secret is the JSON document the database secret holds; the application
// reads it at start.
type Secret struct {
	Engine   string `json:"engine"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	DBName   string `json:"dbname"`
	Username string `json:"username"`
	Password string `json:"password"`
	// TLS is how clients connect: verify-full, always (the instance
	// refuses plain connections; clients verify its certificate against
	// the RDS CA bundle, internal/rdsca, and its host name).
	TLS string `json:"tls"`
}

func credentialsJSON(engine, host string, port int, dbname, username, password string) (string, error) {
	b, err := json.Marshal(Secret{Engine: engine, Host: host, Port: port, DBName: dbname, Username: username, Password: password, TLS: TLSMode})
	return string(b), err
}
