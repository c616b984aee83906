package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/credstats/credstats/cmd/credstats/config"
	"github.com/credstats/credstats/dashboard"
	"github.com/credstats/credstats/internal/store"
)

const linksUsage = `Usage:
  credstats links create --group GROUP [--name NAME]
  credstats links create --credential CREDENTIAL [--name NAME]
  credstats links list
  credstats links revoke ID

A link opens a read-only dashboard of one group or one credential, with no
sign-in. Links are signed with the dashboard secret: run these commands with
the --data-dir (or --dashboard-secret) of the server that will open them.`

// linksCmd manages the dashboard's shared links.
func linksCmd(args []string) error {
	if len(args) == 0 {
		return errors.New(linksUsage)
	}
	fs := flag.NewFlagSet("links "+args[0], flag.ContinueOnError)
	ch := clickhouseFlag(fs)
	dataDir := fs.String("data-dir", "data", "folder that keeps the dashboard secret (as for serve)")
	secret := fs.String("dashboard-secret", "", "secret that signs dashboard sessions and links (default: kept in --data-dir)")
	baseURL := fs.String("base-url", "", "address people reach credstats at, e.g. https://stats.example.org, to print whole links")
	name := fs.String("name", "", "a name that says who the link is for")
	group := fs.String("group", "", "the group the link shows")
	credential := fs.String("credential", "", "the credential the link shows")
	sub, rest := args[0], args[1:]
	var id string
	if sub == "revoke" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := config.Parse(fs, rest); err != nil {
		return err
	}
	var scope dashboard.Scope
	if sub == "create" {
		switch {
		case (*group == "") == (*credential == ""):
			return errors.New("a link shows one group or one credential: give --group or --credential")
		case *group != "":
			scope = dashboard.Scope{Kind: dashboard.ScopeGroup, Value: *group}
		default:
			scope = dashboard.Scope{Kind: dashboard.ScopeCredential, Value: *credential}
		}
	}
	key, err := dashboard.LoadSecret(*secret, *dataDir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := store.Open(ctx, *ch, store.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	links := dashboard.NewLinks(conn, key, 0)
	address := func(l dashboard.Link) string {
		return strings.TrimSuffix(*baseURL, "/") + "/dashboard/s/" + links.Token(l)
	}
	switch sub {
	case "create":
		l, _, err := links.Create(ctx, *name, scope)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Created link %s (%s) to %s. Anyone with it sees that %s's dashboard, read-only, until it is revoked.\n", l.ID, l.Name, l.Scope, l.Scope.Kind)
		fmt.Println(address(l))
	case "list":
		list, err := links.List(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tSCOPE\tCREATED\tSTATUS\tLINK")
		for _, l := range list {
			status, link := "active", address(l)
			if l.Revoked() {
				status, link = "revoked "+l.RevokedAt.UTC().Format(time.DateTime), "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Name, l.Scope, l.CreatedAt.UTC().Format(time.DateTime), status, link)
		}
		return w.Flush()
	case "revoke":
		if id == "" {
			return errors.New("which link? credstats links revoke ID (see credstats links list)")
		}
		if err := links.Revoke(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Revoked link %s: it stops opening within seconds.\n", id)
	default:
		return errors.New(linksUsage)
	}
	return nil
}
