// Package cloudinit renders #cloud-config user data from Go values with a
// YAML encoder (never string concatenation) and fits it into EC2's limit.
package cloudinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"

	"gopkg.in/yaml.v3"
)

// MaxUserData is EC2's limit on user data: 16 KB, raw, before base64.
const MaxUserData = 16384

// Config is a cloud-config document (the keys webstack uses).
type Config struct {
	// Packages are installed by the package manager on first boot.
	Packages []string `yaml:"packages,omitempty"`
	// WriteFiles are written on first boot.
	WriteFiles []File `yaml:"write_files,omitempty"`
	// RunCmd runs once, at the end of first boot, after packages and the
	// deferred files; each command is an argv list (no shell).
	RunCmd [][]string `yaml:"runcmd,omitempty"`
}

// File is one entry of write_files.
type File struct {
	Path        string `yaml:"path"`
	Content     string `yaml:"content"`
	Owner       string `yaml:"owner,omitempty"`
	Permissions string `yaml:"permissions,omitempty"`
	// Defer writes the file in the final stage, after packages are
	// installed, so that a package cannot overwrite it.
	Defer bool `yaml:"defer,omitempty"`
}

// Render returns the document, starting with the #cloud-config header.
func (c Config) Render() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("#cloud-config\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("cloudinit: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("cloudinit: %w", err)
	}
	return buf.Bytes(), nil
}

// UserData is user data ready for EC2: Text for the instance's userData, or,
// when the document had to be compressed, Base64 for userDataBase64.
type UserData struct {
	Text   string
	Base64 string
	// Size is the raw size EC2 counts against MaxUserData.
	Size int
}

// Encode fits a rendered document into EC2's limit: as is when it fits,
// gzip-compressed (cloud-init detects gzip) when it does not, and an error
// naming both sizes when even that is too large.
func Encode(doc []byte) (UserData, error) {
	if len(doc) <= MaxUserData {
		return UserData{Text: string(doc), Size: len(doc)}, nil
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(doc)
	zw.Close()
	if buf.Len() > MaxUserData {
		return UserData{}, fmt.Errorf("cloudinit: user data is %d bytes (%d gzip-compressed), over EC2's limit of %d bytes", len(doc), buf.Len(), MaxUserData)
	}
	return UserData{Base64: base64.StdEncoding.EncodeToString(buf.Bytes()), Size: buf.Len()}, nil
}

// Base64OrEncode is the user data base64-encoded, as a launch template
// takes it: Base64 when set (compressed), else Text encoded.
func (u UserData) Base64OrEncode() string {
	if u.Base64 != "" {
		return u.Base64
	}
	return base64.StdEncoding.EncodeToString([]byte(u.Text))
}
