package instancetype_test

import (
	"testing"

	"github.com/foobar/webstack/components/instancetype"
)

func TestArchitecture(t *testing.T) {
	for typ, want := range map[string]string{
		"t4g.small": "arm64", "m7g.large": "arm64", "c7gn.xlarge": "arm64", "a1.medium": "arm64",
		"r8gd.large": "arm64", "im4gn.large": "arm64", "g5g.xlarge": "arm64",
		"t3.micro": "x86_64", "m7i.large": "x86_64", "c6a.large": "x86_64", "g5.xlarge": "x86_64", "inf2.xlarge": "x86_64",
	} {
		if got, err := instancetype.Architecture(typ); err != nil || got != want {
			t.Errorf("Architecture(%s) = %s, %v; want %s", typ, got, err, want)
		}
	}
	for _, bad := range []string{"", "t4g", "T3.micro", "t3.", ".micro"} {
		if _, err := instancetype.Architecture(bad); err == nil {
			t.Errorf("Architecture(%q) accepted", bad)
		}
	}
}
