// Package beaconjs embeds the built beacon script, so the binary serves it
// without npm. The source is src/beacon.js; `node build.mjs` rebuilds
// dist/beacon.min.js, and a test fails when the two drift apart.
package beaconjs

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

//go:embed dist/beacon.min.js
var Script []byte

// Version is the first 10 hex characters of the script's SHA-256; it names
// the immutable alias /beacon.<Version>.js and serves as the ETag.
var Version = version(Script)

func version(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}
