package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/credstats/credstats/cmd/credstats/config"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/store"
)

const linksUsage = `Usage:
  credstats links create --group GROUP [--name NAME] [--org ID]
  credstats links create --credential CREDENTIAL [--name NAME] [--org ID]
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
	org := fs.String("org", "", "the organization whose events alone the link shows, within its group or credential")
	sub, rest := args[0], args[1:]
	id, rest := revokeID(sub, rest)
	if err := config.Parse(fs, rest); err != nil {
		return err
	}
	var scope auth.Scope
	if sub == "create" {
		switch {
		case (*group == "") == (*credential == ""):
			return errors.New("a link shows one group or one credential: give --group or --credential")
		case *group != "":
			scope = auth.Scope{Kind: auth.ScopeGroup, Value: *group}
		default:
			scope = auth.Scope{Kind: auth.ScopeCredential, Value: *credential}
		}
		scope.Org = *org
	}
	key, err := auth.ReadSecret(*secret, *dataDir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := store.Open(ctx, *ch, store.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	links := auth.NewLinks(conn, key, 0)
	if scope.Org != "" {
		if _, err := auth.NewOrgs(conn, 0).Get(ctx, scope.Org); err != nil {
			return fmt.Errorf("organization %q: %w", scope.Org, err)
		}
	}
	address := func(l auth.Link) string {
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
	case "list", "revoke":
		return revocable[auth.Link]{
			noun: "link", list: links.List, revoke: links.Revoke, revoked: ": it stops opening within seconds.",
			head: []string{"ID", "NAME", "SCOPE", "CREATED", "STATUS", "LINK"},
			row: func(l auth.Link) []string {
				link := address(l)
				if l.Revoked() {
					link = "-"
				}
				return []string{l.ID, l.Name, l.Scope.String(), created(l.CreatedAt), status(l.Revoked(), l.RevokedAt), link}
			},
		}.run(ctx, sub, id, os.Stdout, os.Stderr)
	default:
		return errors.New(linksUsage)
	}
	return nil
}
