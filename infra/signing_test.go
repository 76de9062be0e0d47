package infra_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	asg "github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
	"gopkg.in/yaml.v3"
)

const (
	randomBytesT  = "random:index/randomBytes:RandomBytes"
	parameterT    = "aws:ssm/parameter:Parameter"
	bucketPolicyT = "aws:s3/bucketPolicy:BucketPolicy"
)

// writtenFile is the content of a file cloud-config writes, or "".
func writtenFile(t *testing.T, userData, path string) string {
	t.Helper()
	var doc struct {
		WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal([]byte(userData), &doc); err != nil {
		t.Fatal(err)
	}
	for _, f := range doc.WriteFiles {
		if f.Path == path {
			return f.Content
		}
	}
	return ""
}

// TestBundlesAreSignedForTheirHosts: every tier has its own signing key,
// whose seed is a secret found nowhere in plain text (not in any
// resource's inputs or outputs, user data and bundles included, nor in an
// output); each launch template pins the public key of its tier's seed,
// readable (not secret); and each bundle object is an envelope that opens
// with that key, names its own bucket key, and carries as its serial the
// version of the tier's counter, which holds the bundle's SHA-256 (the
// content-addressed application bundle: serial 0).
func TestBundlesAreSignedForTheirHosts(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			opts := stackOptions(t, stack, nil)
			rec := mustRunStack(t, stack)
			var seeds []string
			keys := map[string]ed25519.PublicKey{}
			for _, tier := range []string{"lb", "web", "app"} {
				r := rec.Named(randomBytesT, tier+"-signing-key")
				if r == nil {
					t.Fatalf("no signing key %s-signing-key", tier)
				}
				if _, ok := r.Outputs["base64"].(mocks.Secret); !ok {
					t.Fatalf("%s: the seed is not secret", r.Name)
				}
				b64 := mocks.Reveal(r.Outputs["base64"]).(string)
				seed, _ := base64.StdEncoding.DecodeString(b64)
				priv, err := host.SigningKey(seed)
				if err != nil {
					t.Fatal(err)
				}
				seeds = append(seeds, b64, hex.EncodeToString(seed), mocks.Reveal(r.Outputs["hex"]).(string))
				keys[tier] = priv.Public().(ed25519.PublicKey)
			}
			for _, r := range rec.Resources() {
				for i, s := range seeds {
					if where := append(mocks.FindPlain(r.Inputs, s, "inputs"), mocks.FindPlain(r.Outputs, s, "outputs")...); len(where) > 0 {
						t.Errorf("%s %s holds signing seed #%d in plain text at %v", r.Type, r.Name, i/3+1, where)
					}
				}
			}
			values, _ := exports(t, opts)
			for name, v := range values {
				for _, s := range seeds {
					if strings.Contains(fmt.Sprint(v), s) {
						t.Errorf("stack output %s holds a signing seed", name)
					}
				}
			}

			for _, tier := range []string{"lb", "web", "app"} {
				_, lt := group(t, rec, tier)
				if lt.IsSecret("userData") {
					t.Fatalf("%s: user data is secret: previews cannot show it", tier)
				}
				ud := decode(t, lt.Str("userData"))
				pin := writtenFile(t, ud, host.SigningKeyPath)
				if pin == "" {
					t.Fatalf("%s: user data pins no public key at %s:\n%s", tier, host.SigningKeyPath, ud)
				}
				pub, err := host.ParsePublicKeyPEM(pin)
				if err != nil || !pub.Equal(keys[tier]) {
					t.Fatalf("%s: the pinned key is not the tier's signing key (%v)", tier, err)
				}

				obj := rec.Named(objectT, tier+"-bundle")
				if obj.IsSecret("content") {
					t.Errorf("%s: the bundle object is secret: previews cannot show it", tier)
				}
				e, err := host.Open(pub, obj.Str("content"))
				if err != nil {
					t.Fatalf("%s: the bundle does not open with the pinned key: %v", tier, err)
				}
				if err := host.Accepts(obj.Str("key"), nil, e); err != nil || !strings.Contains(ud, "WEBSTACK_BUNDLE_KEY="+e.Key) {
					t.Errorf("%s: envelope for %s, object at %s: %v", tier, e.Key, obj.Str("key"), err)
				}
				for other, k := range keys {
					if other != tier {
						if _, err := host.Open(k, obj.Str("content")); err == nil {
							t.Errorf("%s's bundle opens with %s's key: the tiers share a key", tier, other)
						}
					}
				}
				counter := rec.Named(parameterT, tier+"-bundle-serial")
				if tier == "app" {
					if counter != nil || e.Serial != 0 || e.Key != store.ImmutableBundleKey("app", e.Script) {
						t.Errorf("app: serial %d, key %s, counter %v; want serial 0 at the content's key and no counter", e.Serial, e.Key, counter != nil)
					}
					continue
				}
				if counter == nil {
					t.Fatalf("%s: no serial counter", tier)
				}
				sum := sha256.Sum256([]byte(e.Script))
				if counter.Str("value") != hex.EncodeToString(sum[:]) || counter.Str("name") != asg.SerialParameterName("webstack-"+stack+"-"+tier) ||
					counter.Str("type") != "String" {
					t.Errorf("%s: counter %s = %q (%s); want the bundle's SHA-256", tier, counter.Str("name"), counter.Str("value"), counter.Str("type"))
				}
				if v, _ := mocks.Reveal(counter.Out("version")).(float64); e.Serial != int64(v) || e.Serial < 1 {
					t.Errorf("%s: serial %d; the counter's version is %v", tier, e.Serial, counter.Out("version"))
				}
			}
		})
	}
}

// writeDeny is the bucket policy's condition on object writes.
func writeDeny(t *testing.T, rec *mocks.Recorder) []string {
	t.Helper()
	p := rec.Named(bucketPolicyT, "store")
	if p == nil {
		t.Fatal("no bucket policy")
	}
	var doc struct {
		Statement []struct {
			Sid       string
			Action    []string
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Statement {
		if s.Sid == "DenyObjectWritesButByWriters" {
			var out []string
			for _, w := range s.Condition["ArnNotLike"]["aws:PrincipalArn"].([]any) {
				out = append(out, w.(string))
			}
			return out
		}
	}
	t.Fatalf("the bucket policy denies object writes to no one: %s", p.Str("policy"))
	return nil
}

// TestOnlyTheDeployerWritesTheBucket: the bucket's objects may be written
// by the principal running the program (the mocks' caller is an IAM user)
// or by the deploying operators a stack names, which must include that
// principal; malformed operators are refused with the key, before
// anything exists.
func TestOnlyTheDeployerWritesTheBucket(t *testing.T) {
	caller := "arn:aws:iam::" + mocks.AccountID + ":user/mock"
	if got := writeDeny(t, mustRunStack(t, "dev")); len(got) != 1 || got[0] != caller {
		t.Errorf("writers %v; want the caller %s", got, caller)
	}
	both := []string{caller, "arn:aws:iam::" + mocks.AccountID + ":role/ci/deploy"}
	// The second in the stack's account, without it.
	setting, _ := json.Marshal(map[string]any{"deploy": []string{caller, "role/ci/deploy"}})
	rec, err := runStack(t, "dev", map[string]string{"webstack:operators": string(setting)})
	if err != nil {
		t.Fatal(err)
	}
	if got := writeDeny(t, rec); strings.Join(got, " ") != strings.Join(both, " ") {
		t.Errorf("writers %v; want the setting's %v", got, both)
	}

	// A preview writes nothing: a read-only role may preview a stack whose
	// writers are the deploy role, and sees no change of the policy.
	ci := map[string]string{"webstack:operators": `{"deploy": ["role/webstack-ci-dev-deploy"]}`}
	opts := stackOptions(t, "dev", ci)
	opts.DryRun = true
	if rec, err := mocks.Run(infra.Program, opts); err != nil {
		t.Errorf("a preview by a principal that is not a writer: %v", err)
	} else if got := writeDeny(t, rec); len(got) != 1 || got[0] != "arn:aws:iam::"+mocks.AccountID+":role/webstack-ci-dev-deploy" {
		t.Errorf("preview: writers %v; want the setting's", got)
	}

	for _, c := range []struct{ setting, want string }{
		{`{"deploy": ["arn:aws:iam::123456789012:role/ci/deploy"]}`, `webstack:operators.deploy = ["arn:aws:iam::123456789012:role/ci/deploy"]: does not include ` + caller},
		{`{"deploy": ["arn:aws:s3:::a-bucket"]}`, `webstack:operators.deploy[0] = "arn:aws:s3:::a-bucket": must be the ARN of an IAM role`},
		{`{"preview": ["deploy"]}`, `webstack:operators.preview[0] = "deploy": must be the ARN of an IAM role`},
	} {
		rec, err := runStack(t, "dev", map[string]string{"webstack:operators": c.setting})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("webstack:operators = %s: error %v; want %q", c.setting, err, c.want)
		}
		if rec != nil && len(rec.Resources()) > 0 {
			t.Errorf("webstack:operators = %s: %d resources registered before the error", c.setting, len(rec.Resources()))
		}
	}
}
