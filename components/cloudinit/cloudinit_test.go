package cloudinit_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/internal/testtools"
	"gopkg.in/yaml.v3"
)

func sample() cloudinit.Config {
	return cloudinit.Config{
		Packages: []string{"haproxy", "keepalived"},
		WriteFiles: []cloudinit.File{
			{Path: "/etc/webstack/host.env", Content: "A=1\nB='two words'\n", Permissions: "0644"},
			{Path: "/usr/local/sbin/x", Content: "#!/bin/bash\necho \"it's: a test\"\n", Permissions: "0755", Defer: true},
		},
		RunCmd: [][]string{{"systemctl", "enable", "--now", "x.timer"}},
	}
}

func TestRenderRoundTrips(t *testing.T) {
	doc, err := sample().Render()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(doc, []byte("#cloud-config\n")) {
		t.Fatalf("no #cloud-config header:\n%s", doc)
	}
	var back cloudinit.Config
	if err := yaml.Unmarshal(doc, &back); err != nil {
		t.Fatal(err)
	}
	if back.WriteFiles[1].Content != sample().WriteFiles[1].Content || !back.WriteFiles[1].Defer || back.RunCmd[0][2] != "--now" {
		t.Errorf("round trip lost data:\n%s", doc)
	}
}

func TestValidForCloudInit(t *testing.T) {
	ci := testtools.Need(t, "cloud-init", "cloud-init")
	doc, err := sample().Render()
	if err != nil {
		t.Fatal(err)
	}
	CheckSchema(t, ci, doc)
}

// CheckSchema runs cloud-init's own schema check on a document.
func CheckSchema(t *testing.T, ci string, doc []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ci, "schema", "-c", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
		t.Fatalf("cloud-init schema: %v\n%s\n--- document:\n%s", err, out, doc)
	}
}

func TestEncodeFitsEC2Limit(t *testing.T) {
	small := []byte("#cloud-config\n{}\n")
	ud, err := cloudinit.Encode(small)
	if err != nil || ud.Text != string(small) || ud.Base64 != "" {
		t.Fatalf("small document: %+v, %v", ud, err)
	}

	// Large but compressible: gzip, and it must decompress to the original.
	big := append([]byte("#cloud-config\n"), bytes.Repeat([]byte("# padding line for size\n"), 1200)...)
	ud, err = cloudinit.Encode(big)
	if err != nil {
		t.Fatal(err)
	}
	if ud.Text != "" || ud.Size > cloudinit.MaxUserData {
		t.Fatalf("big document not compressed: size %d", ud.Size)
	}
	raw, _ := base64.StdEncoding.DecodeString(ud.Base64)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(zr)
	if !bytes.Equal(back, big) {
		t.Error("compressed user data does not decompress to the document")
	}

	// Incompressible and too large: a clear error with both sizes.
	noise := make([]byte, 40000)
	rand.New(rand.NewSource(1)).Read(noise)
	_, err = cloudinit.Encode(noise)
	if err == nil || !strings.Contains(err.Error(), "40000 bytes") || !strings.Contains(err.Error(), "16384") {
		t.Errorf("oversized user data: %v", err)
	}
}
