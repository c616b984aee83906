package arrival

import (
	"strings"

	"github.com/credstats/credstats/internal/event"
)

// Verifier classes: where the people who verify a credential came from.
const (
	VerifierHR     = "hr"
	VerifierEmail  = "email"
	VerifierSocial = "social"
	VerifierDirect = "direct"
	VerifierWeb    = "web"
)

// VerifierClass classes a verification's referrer host: a job or HR
// platform (an applicant tracking system linking to the credential), a
// mail client, a social network or chat, none (direct), or any other site.
// Only hosts are classed, as the rollups keep them: LinkedIn's recruiter
// pages (linkedin.com/talent) are LinkedIn's, a social network's.
func VerifierClass(host string) string {
	switch {
	case host == "":
		return VerifierDirect
	case hrHost(host):
		return VerifierHR
	}
	switch Network(host) {
	case event.NetworkNone:
		return VerifierWeb
	case event.Email:
		return VerifierEmail
	}
	return VerifierSocial
}

func hrHost(host string) bool {
	for h := host; h != ""; {
		if hrHosts[h] {
			return true
		}
		_, parent, ok := strings.Cut(h, ".")
		if !ok {
			break
		}
		h = parent
	}
	return false
}

// hrHosts are job boards and applicant tracking systems; subdomains match
// (boards.greenhouse.io, acme.wd5.myworkdayjobs.com).
var hrHosts = map[string]bool{
	"greenhouse.io": true, "lever.co": true, "myworkdayjobs.com": true, "myworkday.com": true, "workday.com": true,
	"smartrecruiters.com": true, "ashbyhq.com": true, "bamboohr.com": true, "icims.com": true, "taleo.net": true,
	"jobvite.com": true, "successfactors.com": true, "successfactors.eu": true, "recruitee.com": true,
	"personio.de": true, "personio.com": true, "teamtailor.com": true, "workable.com": true, "breezy.hr": true,
	"jazzhr.com": true, "applytojob.com": true, "indeed.com": true, "glassdoor.com": true, "stepstone.de": true,
}
