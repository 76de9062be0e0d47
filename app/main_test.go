package main

import (
	"os"
	"testing"
)

// runMainEnv makes the test binary run main() instead of the tests, so the
// integration test can start the real program as a child process.
const runMainEnv = "WEBSTACK_APP_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
