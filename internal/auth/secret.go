package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretFile is the file in the data folder that keeps the dashboard
// secret when none is configured.
const SecretFile = "dashboard.secret"

// MinSecret is the shortest secret, in bytes, that signs sessions and links.
const MinSecret = 32

// LoadSecret returns the secret that signs sessions and shared links: value
// when it is set, otherwise the one kept in dataDir/dashboard.secret, made
// on first use. Every server and every `credstats links` run that must
// accept the same links needs the same secret.
func LoadSecret(value, dataDir string) ([]byte, error) {
	if value != "" {
		if len(value) < MinSecret {
			return nil, fmt.Errorf("the dashboard secret must be at least %d characters long", MinSecret)
		}
		return []byte(value), nil
	}
	path := filepath.Join(dataDir, SecretFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		s, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(s) < MinSecret {
			return nil, fmt.Errorf("cannot use the dashboard secret in %s: want %d or more hex-encoded bytes; delete the file to make a new one (signs everybody out and voids every shared link)", path, MinSecret)
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cannot read the dashboard secret: %w", err)
	}
	return makeSecret(dataDir, path)
}

// ReadSecret is LoadSecret for commands that manage a server's links: it
// never makes a secret, since links signed with a new one would not open
// on the server; without one it names the folder it looked in.
func ReadSecret(value, dataDir string) ([]byte, error) {
	if value == "" {
		path := filepath.Join(dataDir, SecretFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			abs, _ := filepath.Abs(dataDir)
			return nil, fmt.Errorf("no dashboard secret in %s: give the --data-dir (or CREDSTATS_DATA_DIR) of the server that opens the links (`make run` uses .local/data), or its --dashboard-secret", abs)
		}
	}
	return LoadSecret(value, dataDir)
}

func makeSecret(dataDir, path string) ([]byte, error) {
	s := make([]byte, MinSecret)
	rand.Read(s)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the data folder: %w", err)
	}
	// O_EXCL: when two processes start at once, one secret wins and the
	// other process reads it back.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadSecret("", dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot store the dashboard secret: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(s) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot store the dashboard secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("cannot store the dashboard secret: %w", err)
	}
	return s, nil
}

// mac signs the parts under a purpose, so that a signature made for one
// thing (a session) is never valid for another (a link).
func mac(secret []byte, purpose string, parts ...string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(purpose))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

var b64 = base64.RawURLEncoding
