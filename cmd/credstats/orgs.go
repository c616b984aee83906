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

const orgsUsage = `Usage:
  credstats orgs create --name NAME [--host HOST ...]
  credstats orgs list
  credstats orgs rename ID --name NAME
  credstats orgs hosts ID --host HOST [--host HOST ...]
  credstats orgs delete ID

An organization is an issuer this server serves among others. It sees the
credentials the registry names it for, and those whose pages live on its
hosts. Its keys (credstats keys create --org ID) and shared links
(credstats links create --org ID) see nothing else. Deleting an
organization revokes its keys and links; its events stay. A server that
never has one serves everything to every key, as before.`

// orgsCmd manages organizations.
func orgsCmd(args []string) error {
	if len(args) == 0 {
		return errors.New(orgsUsage)
	}
	fs := flag.NewFlagSet("orgs "+args[0], flag.ContinueOnError)
	ch := clickhouseFlag(fs)
	name := fs.String("name", "", "the organization's name, as people know it")
	var hosts config.StringList
	fs.Var(&hosts, "host", "a host its credential pages live on, e.g. certificates.example.org (repeatable)")
	sub, rest := args[0], args[1:]
	var id string
	if sub != "create" && sub != "list" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return fmt.Errorf("which organization? credstats orgs %s ID (see credstats orgs list)", sub)
		}
		id, rest = rest[0], rest[1:]
	}
	if err := config.Parse(fs, rest); err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := store.Open(ctx, *ch, store.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	orgs := auth.NewOrgs(conn, 0)
	switch sub {
	case "create":
		o, err := orgs.Create(ctx, *name, hosts)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Created organization %q (%s), hosts %s. Give it keys with: credstats keys create --org %s --name NAME --scope dashboard\n",
			o.ID, o.Name, orNone(o.Hosts), o.ID)
		fmt.Println(o.ID)
	case "list":
		return revocable[auth.Org]{
			noun: "organization", list: orgs.List,
			head: []string{"ID", "NAME", "HOSTS", "CREATED", "STATUS"},
			row: func(o auth.Org) []string {
				return []string{o.ID, o.Name, orNone(o.Hosts), created(o.CreatedAt), status(o.Deleted(), o.DeletedAt)}
			},
		}.run(ctx, "list", "", os.Stdout, os.Stderr)
	case "rename", "hosts":
		if sub == "rename" && *name == "" {
			return errors.New("the new name? credstats orgs rename ID --name NAME")
		}
		if sub == "hosts" && len(hosts) == 0 {
			return errors.New("which hosts? credstats orgs hosts ID --host HOST [--host HOST ...]")
		}
		var hs []string
		if sub == "hosts" {
			hs = hosts
		}
		o, err := orgs.Update(ctx, id, *name, hs)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Organization %s is now %q, hosts %s.\n", o.ID, o.Name, orNone(o.Hosts))
	case "delete":
		if err := orgs.Delete(ctx, id, auth.NewKeys(conn, 0), auth.NewLinks(conn, nil, 0)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Deleted organization %s; its keys and links are revoked.\n", id)
	default:
		return errors.New(orgsUsage)
	}
	return nil
}

func orNone(hosts []string) string {
	if len(hosts) == 0 {
		return "(none)"
	}
	return strings.Join(hosts, ",")
}
