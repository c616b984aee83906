// Package demo renders a sample public credential page that embeds the
// beacon exactly as an integrator would. credstats serves it at /demo, and
// the browser tests in beacon-js drive it.
package demo

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("demo").Parse(pageHTML))

// Page is what varies between renderings of the demo credential page.
type Page struct {
	// Credential is the credential id the beacon reports, e.g. "demo-1".
	Credential string
	// Group is the optional program or badge-template id.
	Group string
	// BeaconSrc is the script URL, e.g. "/beacon.js" or
	// "https://stats.example.org/beacon.js".
	BeaconSrc string
}

// Render writes the page as HTML.
func Render(w io.Writer, p Page) error {
	if err := page.Execute(w, p); err != nil {
		return fmt.Errorf("cannot render demo page: %w", err)
	}
	return nil
}
