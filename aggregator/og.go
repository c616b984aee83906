package aggregator

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/internal/arrival"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/registry"
	"github.com/credstats/credstats/internal/ttlcache"
	"github.com/credstats/credstats/internal/unfurl"
)

// The social card: GET /og/ID.png, a 1200x630 PNG a credential page can
// name as its og:image. Networks' link-preview crawlers fetch it when the
// page's link is pasted; each such fetch is recorded as an unfurl (package
// unfurl), never as a view.
const (
	cardW, cardH = 1200, 630
	// maxRenders bounds the cards drawn at once; a request waits at most
	// renderWait for its turn, then answers 503.
	maxRenders = 2
	renderWait = 2 * time.Second
	// cardsCached cards are kept, each for cardTTL.
	cardsCached = 1000
	cardTTL     = 10 * time.Minute
)

// cards draws and caches social cards, keyed by what they show.
type cards struct {
	turn  chan struct{}
	cache *ttlcache.Cache[string, []byte]
	faces struct {
		once              sync.Once
		title, text, mark font.Face
	}
}

func newCards() *cards {
	return &cards{turn: make(chan struct{}, maxRenders), cache: ttlcache.New[string, []byte](cardsCached, nil)}
}

// ogImage answers /og/ID.png.
func (a *API) ogImage(c *fiber.Ctx) error {
	id, ok := strings.CutSuffix(c.Params("file"), ".png")
	if !ok || !event.ValidID(id) {
		return edge.NotFound("social cards are at /og/ID.png")
	}
	id = strings.Clone(id)
	if n, crawler, ok := arrival.Crawler(c.Get(fiber.HeaderUserAgent)); ok && a.o.Unfurls != nil {
		a.o.Unfurls.Record(unfurl.Unfurl{Time: a.now(), Credential: id, Network: n, Crawler: crawler})
	}
	st, err := a.Stats(c, id)
	if err != nil {
		return err
	}
	key := id + "\x00" + badgeMessage(st) + "\x00" + compact(st.Verifications)
	card, ok := a.cards.cache.Get(key)
	if !ok {
		if card, err = a.drawCard(c.UserContext(), id, st); err != nil {
			return err
		}
		a.cards.cache.Add(key, card, cardTTL)
	}
	c.Set(fiber.HeaderContentType, "image/png")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(card)
}

func (a *API) now() time.Time {
	if a.o.Now != nil {
		return a.o.Now()
	}
	return time.Now()
}

// drawCard takes a turn to draw, or answers 503 when none comes soon.
func (a *API) drawCard(ctx context.Context, id string, st counters.Stats) ([]byte, error) {
	wait, cancel := context.WithTimeout(ctx, renderWait)
	defer cancel()
	select {
	case a.cards.turn <- struct{}{}:
		defer func() { <-a.cards.turn }()
	case <-wait.Done():
		return nil, edge.Unavailable("too many cards are being drawn; try again shortly")
	}
	// The registry's name, where the credential has one: its id otherwise.
	name := id
	names, err := registry.Store{Conn: a.o.Conn}.Names(ctx, false, []string{id})
	if err != nil {
		a.warn.Warn("cannot read the registry's names", "err", err)
	}
	if n := names[id]; n != "" {
		name = n
	}
	return a.cards.draw(name, id, st)
}

var (
	cardInk   = color.RGBA{0x0f, 0x17, 0x2a, 0xff}
	cardMuted = color.RGBA{0x5f, 0x6b, 0x7f, 0xff}
	cardBrand = color.RGBA{0x1d, 0x4e, 0xd8, 0xff}
	cardGold  = color.RGBA{0xfb, 0xbf, 0x24, 0xff}
)

func face(ttf []byte, size float64) font.Face {
	f, err := opentype.Parse(ttf)
	if err != nil {
		panic(err) // The fonts are the Go fonts, compiled in.
	}
	fc, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		panic(err)
	}
	return fc
}

// draw renders the card: a brand band, the credential's name, its id and
// its counters. Faces are not safe for concurrent use: draws take turns.
func (cs *cards) draw(name, id string, st counters.Stats) ([]byte, error) {
	cs.faces.once.Do(func() {
		cs.faces.title, cs.faces.text, cs.faces.mark = face(gobold.TTF, 64), face(goregular.TTF, 34), face(gobold.TTF, 30)
	})
	img := image.NewRGBA(image.Rect(0, 0, cardW, cardH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(0, 0, cardW, 24), image.NewUniform(cardBrand), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(80, 120, 96, 200), image.NewUniform(cardGold), image.Point{}, draw.Src)
	text := func(f font.Face, c color.Color, x, y int, s string) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: f, Dot: fixed.P(x, y)}
		d.DrawString(fit(f, s, cardW-x-80))
	}
	text(cs.faces.mark, cardBrand, 120, 110, "VERIFIED CREDENTIAL")
	text(cs.faces.title, cardInk, 120, 190, name)
	text(cs.faces.text, cardMuted, 120, 250, "Credential "+id)
	var shares uint64
	for _, n := range st.Shares {
		shares += n
	}
	counts := "Viewed " + compact(st.Views) + "   ·   Shared " + compact(shares) + "   ·   Verified " + compact(st.Verifications)
	text(cs.faces.text, cardInk, 120, 520, counts)
	draw.Draw(img, image.Rect(0, cardH-12, cardW, cardH), image.NewUniform(cardBrand), image.Point{}, draw.Src)
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fit cuts s to width pixels in f, ending it with an ellipsis when cut.
func fit(f font.Face, s string, width int) string {
	if font.MeasureString(f, s).Ceil() <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && font.MeasureString(f, string(r)+"…").Ceil() > width {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}
