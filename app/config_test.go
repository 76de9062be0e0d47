package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/database/dbsecret"
)

// testPassword is a password distinctive enough that finding it anywhere in
// output is certainly a leak.
const testPassword = "pw-Zq8'\\\"s3cr3t-VALUE"

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func fixedHostname() (string, error) { return "ip-10-0-1-23", nil }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(env(map[string]string{envSecretFile: "/etc/db.json"}), fixedHostname)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: ":8080", HostName: "ip-10-0-1-23", SecretFile: "/etc/db.json"}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestLoadConfigExplicit(t *testing.T) {
	c, err := loadConfig(env(map[string]string{
		envListen:      "127.0.0.1:9000",
		envHostName:    "app1",
		envSecretFile:  "/run/db.json",
		envCredentials: "/run/credentials/webstack-app.service",
		envCAFile:      "/etc/webstack/db-ca.pem",
	}), func() (string, error) { return "", errors.New("must not be called") })
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: "127.0.0.1:9000", HostName: "app1", SecretFile: "/run/db.json", CAFile: "/etc/webstack/db-ca.pem"}
	if c != want {
		t.Errorf("got %+v, want %+v (the explicit secret file wins over the credentials directory)", c, want)
	}
}

func TestLoadConfigCredentialsDirectory(t *testing.T) {
	c, err := loadConfig(env(map[string]string{envCredentials: "/run/credentials/webstack-app.service"}), fixedHostname)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/run/credentials/webstack-app.service/db"; c.SecretFile != want {
		t.Errorf("SecretFile = %q, want %q", c.SecretFile, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		env      map[string]string
		hostname func() (string, error)
		want     string
	}{
		"no secret": {map[string]string{}, fixedHostname, envSecretFile},
		"no host name": {map[string]string{envSecretFile: "/x"},
			func() (string, error) { return "", errors.New("uname failed") }, "uname failed"},
		"host name too long": {map[string]string{envSecretFile: "/x", envHostName: strings.Repeat("a", 256)},
			fixedHostname, "at most 255"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(env(tc.env), tc.hostname)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	for name, tc := range map[string]struct {
		json string
		want Secret
	}{
		"postgres defaults": {
			`{"engine":"postgres","host":"db.internal","dbname":"webstack","username":"app","password":"p"}`,
			Secret{Engine: "postgres", Host: "db.internal", Port: 5432, DBName: "webstack", Username: "app", Password: "p", TLS: "verify-full"},
		},
		"mysql defaults": {
			`{"engine":"mysql","host":"db.internal","dbname":"webstack","username":"app","password":"p"}`,
			Secret{Engine: "mysql", Host: "db.internal", Port: 3306, DBName: "webstack", Username: "app", Password: "p", TLS: "verify-full"},
		},
		"RDS style, port as string, aliases": {
			`{"engine":"postgresql","host":"h","port":"6432","dbname":"d","username":"u","password":"p","tls":"verify-full","dbInstanceIdentifier":"x"}`,
			Secret{Engine: "postgres", Host: "h", Port: 6432, DBName: "d", Username: "u", Password: "p", TLS: "verify-full"},
		},
		"mariadb, tls require from an older secret means verify-full": {
			`{"engine":"mariadb","host":"h","port":3307,"dbname":"d","username":"u","password":"p","tls":"require"}` + "\n",
			Secret{Engine: "mysql", Host: "h", Port: 3307, DBName: "d", Username: "u", Password: "p", TLS: "verify-full"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := parseSecret([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// TestParseSecretErrorsNeverQuoteThePassword feeds broken secrets that hold
// the password and checks that the error says what is wrong without it.
func TestParseSecretErrorsNeverQuoteThePassword(t *testing.T) {
	pw, _ := json.Marshal(testPassword)
	for name, tc := range map[string]struct {
		json string
		want string
	}{
		"syntax error inside the password": {`{"engine":"postgres","password":` + testPassword + `}`, "syntax error at byte"},
		"truncated":                        {`{"engine":"postgres","password":` + string(pw), "syntax error"},
		"password not a string":            {`{"engine":"postgres","password":["` + testPassword + `"]}`, `"password" has the wrong type (JSON array)`},
		"not an object":                    {string(pw), "not a JSON object"},
		"missing fields":                   {`{"engine":"postgres","password":` + string(pw) + `}`, `"host" is missing; "dbname" is missing; "username" is missing`},
		"bad engine":                       {`{"engine":"oracle","host":"h","dbname":"d","username":"u","password":` + string(pw) + `}`, `"engine" is "oracle"`},
		"bad tls":                          {`{"engine":"mysql","host":"h","dbname":"d","username":"u","password":` + string(pw) + `,"tls":"maybe"}`, `"tls" is "maybe", want verify-full`},
		"tls disable refused":              {`{"engine":"postgres","host":"h","dbname":"d","username":"u","password":` + string(pw) + `,"tls":"disable"}`, `"tls" is "disable", want verify-full`},
		"bad port":                         {`{"engine":"mysql","host":"h","dbname":"d","username":"u","password":` + string(pw) + `,"port":"x"}`, `"port" must be a number`},
		"port out of range":                {`{"engine":"mysql","host":"h","dbname":"d","username":"u","password":` + string(pw) + `,"port":70000}`, `"port" 70000`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseSecret([]byte(tc.json))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
			assertNoPassword(t, "error", err.Error())
		})
	}
}

// assertNoPassword fails if text contains the test password or a telling
// piece of it.
func assertNoPassword(t *testing.T, what, text string) {
	t.Helper()
	for _, piece := range []string{testPassword, "s3cr3t", "Zq8"} {
		if strings.Contains(text, piece) {
			t.Errorf("%s contains the password (%q): %s", what, piece, text)
		}
	}
}

func TestSecretNeverPrintsPassword(t *testing.T) {
	s := Secret{Engine: "postgres", Host: "h", Port: 5432, DBName: "d", Username: "u", Password: testPassword, TLS: tlsVerifyFull}
	b, _ := json.Marshal(s)
	for _, text := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), fmt.Sprint(&s), string(b)} {
		assertNoPassword(t, "formatted secret", text)
		if !strings.Contains(text, redactedText) {
			t.Errorf("formatted secret lacks %s: %s", redactedText, text)
		}
	}
}

func writeSecret(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const validSecret = `{"engine":"postgres","host":"db","port":5432,"dbname":"webstack","username":"app","password":"p","tls":"verify-full"}`

func TestLoadSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.json")
	writeSecret(t, path, validSecret)
	s, err := loadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Host != "db" || s.TLS != tlsVerifyFull || s.Password != "p" {
		t.Errorf("got %#v", s)
	}

	_, err = loadSecret(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: err = %v, want a not-exist error naming the file", err)
	}

	writeSecret(t, path, `{"password":`+testPassword)
	_, err = loadSecret(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("broken file: err = %v, want one naming the file", err)
	}
	assertNoPassword(t, "error", fmt.Sprint(err))
}

// TestSecretFromCredentialsDirectory is the systemd path: no
// WEBSTACK_DB_SECRET_FILE, LoadCredential=db:... and $CREDENTIALS_DIRECTORY.
func TestSecretFromCredentialsDirectory(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, filepath.Join(dir, "db"), validSecret)
	c, err := loadConfig(env(map[string]string{envCredentials: dir}), fixedHostname)
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadSecret(c.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	if s.Engine != "postgres" || s.DBName != "webstack" {
		t.Errorf("got %#v", s)
	}
}

// What the database component writes (dbsecret, the one owner of the
// shape) is what the application reads, field by field, for both engines.
func TestParsesTheDocumentTheDatabaseComponentWrites(t *testing.T) {
	for _, engine := range []string{dbsecret.Postgres, dbsecret.MySQL} {
		doc, err := dbsecret.Secret{
			Engine: engine, Host: "db.example", Port: dbsecret.DefaultPort(engine), DBName: "webstack",
			Username: "webstack", Password: testPassword, TLS: dbsecret.TLSVerifyFull,
		}.JSON()
		if err != nil {
			t.Fatal(err)
		}
		s, err := parseSecret([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", engine, err)
		}
		want := Secret{Engine: engine, Host: "db.example", Port: dbsecret.DefaultPort(engine), DBName: "webstack", Username: "webstack", Password: testPassword, TLS: tlsVerifyFull}
		if s != want {
			t.Errorf("%s: parsed %+v, want %+v", engine, s, want)
		}
	}
}
