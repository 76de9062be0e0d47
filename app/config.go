package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/foobar/webstack/components/database/dbsecret"
)

// Environment variables the application reads (see the package comment).
const (
	envListen      = "WEBSTACK_LISTEN"
	envHostName    = "WEBSTACK_HOST_NAME"
	envSecretFile  = "WEBSTACK_DB_SECRET_FILE"
	envCredentials = "CREDENTIALS_DIRECTORY"
	// envCAFile names a PEM file of the CAs the database's certificate must
	// chain to, instead of the embedded RDS CA bundle (tests and the
	// sandbox use it with their own CA; verification stays full).
	envCAFile = "WEBSTACK_DB_CA_FILE"

	defaultListen = ":8080"
	// credentialName is the name the systemd unit gives the secret:
	// LoadCredential=db:<file> makes it $CREDENTIALS_DIRECTORY/db.
	credentialName = "db"
	// maxHostName bounds the host name stored with each visit (a DNS name
	// is at most 253 characters; the MySQL column is VARCHAR(255)).
	maxHostName = 255
)

// Config is the process configuration, read from the environment.
type Config struct {
	Listen     string // address to listen on, host:port
	HostName   string // the name shown on the page and stored with visits
	SecretFile string // path of the database secret JSON
	// CAFile is the PEM file of the database's CAs; empty: the embedded
	// RDS CA bundle (internal/rdsca).
	CAFile string
}

// loadConfig reads the configuration through getenv; hostname supplies the
// default host name (os.Hostname in production).
func loadConfig(getenv func(string) string, hostname func() (string, error)) (Config, error) {
	c := Config{
		Listen:     getenv(envListen),
		HostName:   getenv(envHostName),
		SecretFile: getenv(envSecretFile),
		CAFile:     getenv(envCAFile),
	}
	if c.Listen == "" {
		c.Listen = defaultListen
	}
	if c.HostName == "" {
		h, err := hostname()
		if err != nil {
			return Config{}, fmt.Errorf("%s is not set and the host name is unknown: %w", envHostName, err)
		}
		c.HostName = h
	}
	if len(c.HostName) > maxHostName || !utf8.ValidString(c.HostName) {
		return Config{}, fmt.Errorf("%s must be valid UTF-8 of at most %d bytes", envHostName, maxHostName)
	}
	if c.SecretFile == "" {
		dir := getenv(envCredentials)
		if dir == "" {
			return Config{}, fmt.Errorf("no database secret: set %s, or run under systemd with LoadCredential=%s:<file> (which sets %s)",
				envSecretFile, credentialName, envCredentials)
		}
		c.SecretFile = filepath.Join(dir, credentialName)
	}
	return c, nil
}

// Engines the secret may name. RDS-managed secrets say "postgres" and
// "mysql"; the aliases are accepted for hand-written secrets.
const (
	enginePostgres = dbsecret.Postgres
	engineMySQL    = dbsecret.MySQL
)

// Values of the secret's "tls" field. The application always encrypts and
// always verifies the server's certificate chain and host name (see
// dbTLSConfig): there is no mode without verification to select.
const (
	tlsVerifyFull = dbsecret.TLSVerifyFull
	// tlsRequire is what secrets written before verification said; it is
	// accepted and means verify-full, so a secret written by an older
	// stack never stops the application (it only gets safer).
	tlsRequire = "require"
)

// Redacted is a string that never prints itself: fmt, slog and
// encoding/json all see "[REDACTED]". It holds the database password so a
// stray %v of a Secret cannot leak it.
type Redacted string

const redactedText = "[REDACTED]"

func (Redacted) String() string               { return redactedText }
func (Redacted) GoString() string             { return strconv.Quote(redactedText) }
func (Redacted) LogValue() slog.Value         { return slog.StringValue(redactedText) }
func (Redacted) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(redactedText)), nil }

// Secret is the database secret: the JSON document the stack stores in AWS
// Secrets Manager and the secrets unit copies to a root-only file:
//
//	{"engine":"postgres","host":"db.example","port":5432,"dbname":"webstack",
//	 "username":"webstack","password":"...","tls":"verify-full"}
//
// engine is "postgres" (alias "postgresql") or "mysql" (alias "mariadb");
// port may be a number or a numeric string and defaults to the engine's
// port; tls is "verify-full" (the default; "require" is accepted from older
// secrets and verifies as well). Any other tls value, "disable" included,
// is an error: the application never connects without verified TLS.
type Secret struct {
	Engine   string   `json:"engine"`
	Host     string   `json:"host"`
	Port     int      `json:"-"`
	DBName   string   `json:"dbname"`
	Username string   `json:"username"`
	Password Redacted `json:"password"`
	TLS      string   `json:"tls"`
}

// loadSecret reads and validates the secret file at path.
func loadSecret(path string) (Secret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The *PathError names the file and the reason, never its content.
		return Secret{}, fmt.Errorf("database secret: %w", err)
	}
	s, err := parseSecret(data)
	if err != nil {
		return Secret{}, fmt.Errorf("database secret %s: %w", path, err)
	}
	return s, nil
}

// parseSecret decodes and validates a secret. Its errors never quote the
// document: a JSON syntax error is reported by offset only, because
// encoding/json's own message quotes the offending character, which may
// belong to the password.
func parseSecret(data []byte) (Secret, error) {
	// The document's shape is dbsecret's; the port may also be a string
	// in a hand-written secret.
	var raw struct {
		dbsecret.Secret
		Port json.RawMessage `json:"port"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Secret{}, fmt.Errorf("not valid JSON (syntax error at byte %d)", syn.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			field := typ.Field[strings.LastIndex(typ.Field, ".")+1:]
			return Secret{}, fmt.Errorf("%q has the wrong type (JSON %s)", field, typ.Value)
		default:
			return Secret{}, errors.New("not a JSON object")
		}
	}
	s := Secret{Engine: raw.Engine, Host: raw.Host, DBName: raw.DBName, Username: raw.Username, Password: Redacted(raw.Password), TLS: raw.TLS}
	port, err := parsePort(raw.Port)
	if err != nil {
		return Secret{}, err
	}
	s.Port = port

	var problems []string
	switch strings.ToLower(s.Engine) {
	case "postgres", "postgresql":
		s.Engine = enginePostgres
	case "mysql", "mariadb":
		s.Engine = engineMySQL
	case "":
		problems = append(problems, `"engine" is missing (postgres or mysql)`)
	default:
		problems = append(problems, fmt.Sprintf(`"engine" is %q, want postgres or mysql`, s.Engine))
	}
	if s.Port == 0 && (s.Engine == enginePostgres || s.Engine == engineMySQL) {
		s.Port = dbsecret.DefaultPort(s.Engine)
	}
	if s.Port < 0 || s.Port > 65535 {
		problems = append(problems, fmt.Sprintf(`"port" %d is not a TCP port`, s.Port))
	}
	for _, f := range []struct{ name, value string }{
		{"host", s.Host}, {"dbname", s.DBName}, {"username", s.Username},
	} {
		if f.value == "" {
			problems = append(problems, fmt.Sprintf("%q is missing", f.name))
		} else if strings.ContainsRune(f.value, 0) {
			problems = append(problems, fmt.Sprintf("%q contains a NUL byte", f.name))
		}
	}
	if strings.ContainsRune(string(s.Password), 0) {
		problems = append(problems, `"password" contains a NUL byte`)
	}
	switch s.TLS {
	case "", tlsVerifyFull, tlsRequire:
		s.TLS = tlsVerifyFull
	default:
		problems = append(problems, fmt.Sprintf(`"tls" is %q, want verify-full (the application always verifies the database's certificate)`, s.TLS))
	}
	if len(problems) > 0 {
		return Secret{}, errors.New(strings.Join(problems, "; "))
	}
	return s, nil
}

// parsePort accepts a JSON number or a string holding one; absent is 0.
func parsePort(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, errors.New(`"port" is not a valid string`)
		}
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0, errors.New(`"port" must be a number`)
	}
	return n, nil
}
