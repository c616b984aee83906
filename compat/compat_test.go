package compat_test

import (
	"testing"

	"github.com/credstats/credstats/compat"
	"github.com/credstats/credstats/internal/event"
)

func TestCertifierTypesMapOntoTheModel(t *testing.T) {
	if len(compat.CertifierTypes) != 13 {
		t.Fatalf("%d Certifier types, want 13", len(compat.CertifierTypes))
	}
	seen := map[[2]uint8]string{}
	for _, name := range compat.CertifierTypes {
		typ, network, ok := compat.ParseCertifierType(name)
		if !ok {
			t.Errorf("%s does not map", name)
			continue
		}
		if _, err := (event.Input{Credential: "c", Type: typ.String(), Network: network.String()}).Event(); err != nil {
			t.Errorf("%s maps to an invalid event: %v", name, err)
		}
		key := [2]uint8{uint8(typ), uint8(network)}
		if other, dup := seen[key]; dup {
			t.Errorf("%s and %s map to the same event", name, other)
		}
		seen[key] = name
	}
	for _, bad := range []string{"", "credential_shared_to_", "credential_shared_to_myspace", "viewed"} {
		if _, _, ok := compat.ParseCertifierType(bad); ok {
			t.Errorf("%q maps, want refused", bad)
		}
	}
}

func TestBadgesNinjaKinds(t *testing.T) {
	f := func(kind, network, wantType, wantNetwork string) {
		t.Helper()
		if typ, net := compat.ParseBadgesNinjaKind(kind, network); typ != wantType || net != wantNetwork {
			t.Errorf("%q, %q: %q, %q; want %q, %q", kind, network, typ, net, wantType, wantNetwork)
		}
	}
	f("view", "", "view", "")
	f("share", "LinkedIn", "share", "linkedin")
	f("share", "x", "share", "twitter")
	f("share", "copy", "link_copy", "")
	f("download", "", "download", "")
	f("linkedin_add", "", "linkedin_add", "")
}
