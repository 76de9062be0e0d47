package testtools

import (
	"net"
	"sync"
	"testing"
)

// FreePort returns a local TCP port nobody listens on now, and never the
// same one twice in a test binary: the kernel may hand a port it just
// closed out again at once (CI once got an HAProxy's monitor port equal
// to its frontend's).
func FreePort(t testing.TB) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, given := portsGiven.LoadOrStore(port, true); !given {
			return port
		}
	}
}

// portsGiven are the ports FreePort returned.
var portsGiven sync.Map
