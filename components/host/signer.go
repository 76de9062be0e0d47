package host

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Signer is the key a group's bundles are signed with. Its seed is a
// secret the random provider generates once, kept encrypted in the stack's
// state; the program derives the key from it on every run, so Ed25519's
// deterministic signatures make an unchanged bundle an unchanged object.
// Only the public key leaves the program (in user data).
type Signer struct {
	// PublicKey is the PEM public key the hosts pin (not secret).
	PublicKey pulumi.StringOutput
	seed      pulumi.StringOutput // base64, secret
}

// NewSigner creates a signing key (a random.RandomBytes named name).
// Replacing it (a new name) changes the public key, and with it every
// launch template that pins it.
func NewSigner(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (*Signer, error) {
	seed, err := random.NewRandomBytes(ctx, name, &random.RandomBytesArgs{Length: pulumi.Int(SeedSize)}, opts...)
	if err != nil {
		return nil, err
	}
	pub := seed.Base64.ApplyT(func(b64 string) (string, error) {
		priv, err := seedKey(b64)
		if err != nil {
			return "", err
		}
		return PublicKeyPEM(priv.Public().(ed25519.PublicKey))
	}).(pulumi.StringOutput)
	// A public key is no secret: marked as one, it would hide the user
	// data of every launch template in previews.
	return &Signer{PublicKey: pulumi.Unsecret(pub).(pulumi.StringOutput), seed: seed.Base64}, nil
}

// Seal signs a bundle's script for a bucket key and serial (Seal). The
// envelope carries no secret, so it is not marked as one: previews and the
// state show it.
func (s *Signer) Seal(key pulumi.StringInput, serial pulumi.IntInput, script pulumi.StringInput) pulumi.StringOutput {
	env := pulumi.All(s.seed, key, serial, script).ApplyT(func(v []any) (string, error) {
		priv, err := seedKey(v[0].(string))
		if err != nil {
			return "", err
		}
		return Seal(priv, Envelope{Key: v[1].(string), Serial: int64(v[2].(int)), Script: v[3].(string)})
	}).(pulumi.StringOutput)
	return pulumi.Unsecret(env).(pulumi.StringOutput)
}

// seedKey is the private key of a base64 seed. Errors never quote it.
func seedKey(b64 string) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("host: signing key seed is not base64")
	}
	return SigningKey(seed)
}
