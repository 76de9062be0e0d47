package host_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/host"
)

func TestEnvelopeRoundTripIsDeterministic(t *testing.T) {
	k := testKey(t, "deploy")
	in := host.Envelope{Key: "bundles/web/current.sh", Serial: 42, Script: "#!/bin/bash\necho hi\n"}
	a, b := seal(t, k, in.Key, in.Serial, in.Script), seal(t, k, in.Key, in.Serial, in.Script)
	if a != b {
		t.Error("two seals of one bundle differ: an unchanged bundle would re-preview as a change")
	}
	lines := strings.SplitN(a, "\n", 6)
	if !strings.HasPrefix(lines[0], host.SignatureTag) || lines[1] != host.EnvelopeHeader || lines[2] != host.KeyTag+in.Key || lines[3] != "#serial 42" ||
		!strings.HasPrefix(lines[4], host.SumTag) || lines[5] != in.Script {
		t.Errorf("envelope layout:\n%s", a)
	}
	out, err := host.Open(k.Public().(ed25519.PublicKey), a)
	if err != nil || out != in {
		t.Errorf("Open = %+v, %v; want %+v", out, err, in)
	}
	if _, err := host.Open(testKey(t, "other").Public().(ed25519.PublicKey), a); err == nil {
		t.Error("another key's public key opens the envelope")
	}
}

func TestSealRefusesWhatTheHostCouldNotRead(t *testing.T) {
	k := testKey(t, "deploy")
	for _, e := range []host.Envelope{
		{Key: "bundles/web/current.sh\n#serial 99", Serial: 1},
		{Key: "", Serial: 1},
		{Key: "bundles/web/current.sh", Serial: -1},
		{Key: "bundles/web/current.sh", Serial: host.MaxSerial + 1},
	} {
		if _, err := host.Seal(k, e); err == nil {
			t.Errorf("Seal(%q, %d) succeeded", e.Key, e.Serial)
		}
	}
	if _, err := host.Seal(ed25519.PrivateKey("short"), host.Envelope{Key: "k"}); err == nil {
		t.Error("Seal with a malformed key succeeded")
	}
	if _, err := host.SigningKey(make([]byte, 31)); err == nil {
		t.Error("a 31-byte seed made a key")
	}
}

func TestPublicKeyPEMRoundTrip(t *testing.T) {
	pub := testKey(t, "deploy").Public().(ed25519.PublicKey)
	p, err := host.PublicKeyPEM(pub)
	if err != nil || !strings.HasPrefix(p, "-----BEGIN PUBLIC KEY-----\n") {
		t.Fatalf("PEM %q, %v", p, err)
	}
	back, err := host.ParsePublicKeyPEM(p)
	if err != nil || !back.Equal(pub) {
		t.Errorf("ParsePublicKeyPEM = %x, %v", back, err)
	}
	if _, err := host.ParsePublicKeyPEM(p + p); err == nil {
		t.Error("two PEM blocks parsed as one key")
	}
}

func TestAccepts(t *testing.T) {
	applied := &host.Envelope{Key: "k", Serial: 5, Script: "a"}
	for _, c := range []struct {
		applied *host.Envelope
		e       host.Envelope
		ok      bool
	}{
		{nil, host.Envelope{Key: "k", Serial: 0}, true},
		{nil, host.Envelope{Key: "other", Serial: 9}, false},
		{applied, host.Envelope{Key: "k", Serial: 6, Script: "b"}, true},
		{applied, host.Envelope{Key: "k", Serial: 5, Script: "a"}, true},
		{applied, host.Envelope{Key: "k", Serial: 5, Script: "b"}, false},
		{applied, host.Envelope{Key: "k", Serial: 4, Script: "b"}, false},
	} {
		if err := host.Accepts("k", c.applied, c.e); (err == nil) != c.ok {
			t.Errorf("Accepts(%+v after %+v) = %v; want ok=%v", c.e, c.applied, err, c.ok)
		}
	}
}
