package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The assets are embedded, so the dashboard works offline and its pages
// never ask another host for anything. echarts.min.js is the dashboard's own
// build of ECharts 5.6.0 from the npm package `echarts` (Apache-2.0, see
// echarts.LICENSE), made by `make echarts` with only the charts it draws.
//
//go:embed assets
var assetFS embed.FS

type asset struct {
	body, gzipped []byte
	version       string
	contentType   string
}

var assets = loadAssets()

func loadAssets() map[string]*asset {
	m := map[string]*asset{}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic(err) // Embedded: this cannot fail at run time.
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".gz") {
			continue // The gzip of another asset, made by its build.
		}
		b, _ := assetFS.ReadFile("assets/" + e.Name())
		sum := sha256.Sum256(b)
		a := &asset{body: b, version: hex.EncodeToString(sum[:6]), contentType: mime.TypeByExtension(path.Ext(e.Name()))}
		if a.contentType == "" {
			a.contentType = "text/plain; charset=utf-8"
		}
		if strings.HasPrefix(a.contentType, "text/") && !strings.Contains(a.contentType, "charset") {
			a.contentType += "; charset=utf-8"
		}
		// A build may ship a smaller gzip than this one (zopfli's) as NAME.gz.
		if gz, err := assetFS.ReadFile("assets/" + e.Name() + ".gz"); err == nil {
			a.gzipped = gz
			m[e.Name()] = a
			continue
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		if buf.Len() < len(b)*9/10 {
			a.gzipped = buf.Bytes()
		}
		m[e.Name()] = a
	}
	return m
}

// assetURL is an asset's address with its content's version, so that it
// can be cached for good.
func assetURL(name string) string {
	a := assets[name]
	if a == nil {
		panic("dashboard: no asset " + name)
	}
	return assetsHost + name + "?v=" + a.version
}

func serveAsset(c *fiber.Ctx) error {
	a := assets[c.Params("name")]
	if a == nil {
		return c.Status(fiber.StatusNotFound).SendString("no such asset")
	}
	c.Set(fiber.HeaderContentType, a.contentType)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	c.Set(fiber.HeaderETag, `"`+a.version+`"`)
	if c.Query("v") == a.version {
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	}
	if c.Get(fiber.HeaderIfNoneMatch) == `"`+a.version+`"` {
		return c.SendStatus(fiber.StatusNotModified)
	}
	if a.gzipped != nil && strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(a.gzipped)
	}
	return c.Send(a.body)
}
