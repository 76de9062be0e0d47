// Package dbsecret is the one owner of the database secret's shape: the
// JSON document that components/database writes into Secrets Manager (and
// the sandbox into a file), and that the application reads at start. It
// also owns the engines' names and default ports, which the database
// component, the settings, the guardrails and the application share. It
// imports nothing of Pulumi's, so the application and the sandbox can use
// it without the cloud SDK.
package dbsecret

import "encoding/json"

// Engines.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
)

// DefaultPort is the engine's usual port (PostgreSQL's for anything but
// MySQL).
func DefaultPort(engine string) int {
	if engine == MySQL {
		return 3306
	}
	return 5432
}

// TLSVerifyFull is the secret's "tls" value: clients encrypt and verify the
// server's certificate chain and host name.
const TLSVerifyFull = "verify-full"

// Secret is the document:
//
//	{"engine":"postgres","host":"db.example","port":5432,"dbname":"webstack",
//	 "username":"webstack","password":"...","tls":"verify-full"}
type Secret struct {
	Engine   string `json:"engine"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	DBName   string `json:"dbname"`
	Username string `json:"username"`
	Password string `json:"password"`
	// TLS is how clients connect: TLSVerifyFull, always.
	TLS string `json:"tls"`
}

// JSON is the document's text.
func (s Secret) JSON() (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}
