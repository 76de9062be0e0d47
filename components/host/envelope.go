package host

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// A signed bundle (an envelope) is one object in the bucket:
//
//	#webstack-signature <base64 of the Ed25519 signature of the rest>
//	#webstack-bundle v1
//	#key <the bucket key it belongs to>
//	#serial <decimal, never lower than the one before it>
//	#sha256 <hex SHA-256 of the script that follows>
//	<the bundle's script>
//
// Everything after the first line is the signed message, and is what
// webstack-sync runs with bash once the signature verifies against the
// public key pinned in the host's user data (SigningKeyPath), the key line
// names the host's own bundle key and the serial is not lower than the
// applied bundle's. Seal writes the format; SyncScript reads it with the
// constants below; Open is the same check in Go.
const (
	// SignatureTag starts the first line; the signature follows.
	SignatureTag = "#webstack-signature "
	// EnvelopeHeader is the first line of the signed message.
	EnvelopeHeader = "#webstack-bundle v1"
	// KeyTag, SerialTag and SumTag start the next three lines.
	KeyTag    = "#key "
	SerialTag = "#serial "
	SumTag    = "#sha256 "
	// SigningKeyPath is where user data puts the public key (PEM) that
	// every bundle must be signed with.
	SigningKeyPath = "/etc/webstack/bundle-signing-key.pem"
	// MaxSerial bounds the serial: bash compares it as a 64-bit integer.
	MaxSerial = 999_999_999_999_999_999
)

// SeedSize is the size of the signing key's seed (a generated secret).
const SeedSize = ed25519.SeedSize

// Envelope is what an opened (verified) signed bundle says.
type Envelope struct {
	// Key is the bucket key the bundle belongs to; Serial its place in
	// the sequence of that key's bundles; Script what runs on the host.
	Key    string
	Serial int64
	Script string
}

var (
	keyRe       = regexp.MustCompile(`^[A-Za-z0-9!_.*'()/-]+$`)
	signatureRe = regexp.MustCompile(`^[A-Za-z0-9+/]{86}==$`)
	serialRe    = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})$`)
)

// Seal signs a bundle's script for one bucket key and serial with the
// private key: the object webstack-sync accepts. Ed25519 signatures are
// deterministic, so an unchanged bundle is an unchanged object.
func Seal(priv ed25519.PrivateKey, e Envelope) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("host: signing key: %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if !keyRe.MatchString(e.Key) {
		return "", fmt.Errorf("host: bundle key %q: want letters, digits and !_.*'()/-", e.Key)
	}
	if e.Serial < 0 || e.Serial > MaxSerial {
		return "", fmt.Errorf("host: bundle serial %d: want 0 to %d", e.Serial, int64(MaxSerial))
	}
	msg := message(e)
	sig := ed25519.Sign(priv, []byte(msg))
	return SignatureTag + base64.StdEncoding.EncodeToString(sig) + "\n" + msg, nil
}

func message(e Envelope) string {
	sum := sha256.Sum256([]byte(e.Script))
	return fmt.Sprintf("%s\n%s%s\n%s%d\n%s%s\n%s", EnvelopeHeader, KeyTag, e.Key, SerialTag, e.Serial, SumTag, hex.EncodeToString(sum[:]), e.Script)
}

// Open verifies a signed bundle with the public key and returns what it
// says; it refuses what webstack-sync refuses before running anything
// (a bad signature, a malformed header, a script that does not match its
// sum). Whether the key and serial suit a host is Accepts' question.
func Open(pub ed25519.PublicKey, envelope string) (Envelope, error) {
	first, msg, ok := strings.Cut(envelope, "\n")
	if !ok || !strings.HasPrefix(first, SignatureTag) {
		return Envelope{}, errors.New("not signed: the first line is not " + strings.TrimSpace(SignatureTag))
	}
	b64 := strings.TrimPrefix(first, SignatureTag)
	if !signatureRe.MatchString(b64) {
		return Envelope{}, errors.New("malformed signature")
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return Envelope{}, fmt.Errorf("malformed signature: %v", err)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, []byte(msg), sig) {
		return Envelope{}, errors.New("the signature does not verify with the pinned key")
	}
	lines := strings.SplitN(msg, "\n", 5)
	if len(lines) < 5 || lines[0] != EnvelopeHeader || !strings.HasPrefix(lines[1], KeyTag) ||
		!strings.HasPrefix(lines[2], SerialTag) || !strings.HasPrefix(lines[3], SumTag) {
		return Envelope{}, errors.New("malformed header: want " + EnvelopeHeader + ", #key, #serial and #sha256 lines")
	}
	e := Envelope{Key: strings.TrimPrefix(lines[1], KeyTag), Script: lines[4]}
	serial := strings.TrimPrefix(lines[2], SerialTag)
	if !serialRe.MatchString(serial) {
		return Envelope{}, fmt.Errorf("malformed serial %q", serial)
	}
	e.Serial, _ = strconv.ParseInt(serial, 10, 64)
	sum := sha256.Sum256([]byte(e.Script))
	if strings.TrimPrefix(lines[3], SumTag) != hex.EncodeToString(sum[:]) {
		return Envelope{}, errors.New("the script does not match its #sha256")
	}
	return e, nil
}

// Accepts says whether a host whose bundle key is key, and which last
// applied the envelope applied (nil on a new host), runs e: it must be
// for the host's key, and newer than the applied one (or the very same).
func Accepts(key string, applied *Envelope, e Envelope) error {
	if e.Key != key {
		return fmt.Errorf("it is the bundle of %s, not of this host's %s", e.Key, key)
	}
	if applied == nil {
		return nil
	}
	if e.Serial < applied.Serial {
		return fmt.Errorf("serial %d is older than the applied bundle's %d (a rollback)", e.Serial, applied.Serial)
	}
	if e.Serial == applied.Serial && e.Script != applied.Script {
		return fmt.Errorf("serial %d is the applied bundle's, with other content", e.Serial)
	}
	return nil
}

// SigningKey is the Ed25519 key of a seed.
func SigningKey(seed []byte) (ed25519.PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("host: signing key seed: %d bytes, want %d", len(seed), SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// PublicKeyPEM is a public key as OpenSSL reads it (PKIX, PEM).
func PublicKeyPEM(pub ed25519.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// ParsePublicKeyPEM reads a public key written by PublicKeyPEM.
func ParsePublicKeyPEM(s string) (ed25519.PublicKey, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("host: want one PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("host: public key: %v", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("host: public key is %T, want Ed25519", k)
	}
	return pub, nil
}
