package dashboard

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/arrival"
	"github.com/credstats/credstats/internal/catalog"
	"github.com/credstats/credstats/internal/registry"
)

// The "Who checks these credentials" card: verifications by where the
// verifier came from and by country, and on a credential's page how long
// after its issue it was first verified.

var verifierLabels = map[string]string{
	arrival.VerifierHR:     "Job and HR platforms",
	arrival.VerifierEmail:  "E-mail",
	arrival.VerifierSocial: "Social networks and chats",
	arrival.VerifierDirect: "Direct (no referrer)",
	arrival.VerifierWeb:    "Other websites",
}

var verifierOrder = []string{arrival.VerifierHR, arrival.VerifierEmail, arrival.VerifierSocial, arrival.VerifierWeb, arrival.VerifierDirect}

const verifiersNote = "Where verifiers came from is their page's referrer (an applicant tracking system such as Greenhouse, Lever or Workday, a mail client, a network). " +
	"A verifier who checks again within 24 hours counts once; checks on other days cannot be told apart from new verifiers, by design: credstats keeps no identifier across days."

func verifiersQuery(v view) query.Query {
	q := v.query([]string{mVerifications}, catalog.Referrer.Name)
	q.OrderBy = []query.Order{{Field: mVerifications, Desc: true}, {Field: catalog.Referrer.Name}}
	q.Limit = 1000
	return q
}

type verifiersCard struct {
	Empty  string
	Tables []miniTable
	First  string // on a credential's page: its first verification after issue
	Note   string
}

func loadVerifiers(ctx context.Context, d *Dashboard, v view) (any, error) {
	byCountry := v.query([]string{mVerifications}, catalog.Country.Name)
	byCountry.OrderBy = []query.Order{{Field: mVerifications, Desc: true}, {Field: catalog.Country.Name}}
	byCountry.Limit = topLimit
	res, err := d.runAll(ctx, verifiersQuery(v), byCountry)
	if err != nil {
		return nil, err
	}
	card := verifiersCard{Note: verifiersNote}
	if v.credential != "" {
		if card.First, err = d.firstVerified(ctx, v); err != nil {
			return nil, err
		}
	}
	if allZero(res[0]) {
		card.Empty = "Nobody verified in this period."
		return card, nil
	}
	classes := map[string]float64{}
	for _, row := range res[0].Results {
		classes[arrival.VerifierClass(firstDim(row))] += at(row.Metrics, 0)
	}
	from := miniTable{Head: []string{"Came from", "Verifications"}}
	for _, c := range verifierOrder {
		if classes[c] > 0 {
			from.Rows = append(from.Rows, []string{verifierLabels[c], formatCount(classes[c])})
		}
	}
	where := miniTable{Head: []string{"Country", "Verifications"}}
	for _, row := range res[1].Results {
		name := firstDim(row)
		label := countryNames[name]
		if label == "" {
			label = "Unknown"
		}
		where.Rows = append(where.Rows, []string{label, formatCount(at(row.Metrics, 0))})
	}
	card.Tables = []miniTable{from, where}
	return card, nil
}

// firstVerified says how long after its issue (from the registry) the
// view's credential was first verified, over all time.
func (d *Dashboard) firstVerified(ctx context.Context, v view) (string, error) {
	if d.o.Conn == nil {
		return "", nil
	}
	entries, err := registry.Store{Conn: d.o.Conn}.Get(ctx, []string{v.credential})
	if err != nil {
		d.o.Logger.Warn("cannot read the registry", "err", err)
		return "", nil
	}
	issued := entries[v.credential].IssuedAt
	if issued == nil {
		return "", nil
	}
	q := v.query([]string{mVerifications}, "time:day")
	q.DateRange = query.DateRange{Preset: "all"}
	q.Limit = 10_000
	r, err := d.run(ctx, q)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(r.Results, func(row query.Row) bool { return at(row.Metrics, 0) > 0 })
	if i < 0 {
		return "Issued " + issued.Format("2 Jan 2006") + "; not verified yet.", nil
	}
	first, err := time.Parse(time.DateOnly, firstDim(r.Results[i]))
	if err != nil {
		return "", fmt.Errorf("cannot read the day of the first verification: %w", err)
	}
	y, m, dd := issued.In(v.loc).Date()
	days := int(math.Round(first.Sub(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)).Hours() / 24))
	return fmt.Sprintf("First verified %s, %d days after its issue on %s.", first.Format("2 Jan 2006"), max(days, 0), issued.Format("2 Jan 2006")), nil
}
