package beaconjs

import (
	"bytes"
	"regexp"
	"testing"
)

func TestScript(t *testing.T) {
	if len(Script) == 0 {
		t.Fatal("Script is empty: dist/beacon.min.js was not built")
	}
	if !bytes.Contains(Script, []byte("/api/event")) {
		t.Error("Script does not post to /api/event")
	}
	if !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(Version) {
		t.Errorf("Version = %q, want 10 hex characters", Version)
	}
	if got := version([]byte("other")); got == Version {
		t.Errorf("version does not depend on the content: %q", got)
	}
}
