package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestRevocable(t *testing.T) {
	type token struct {
		id      string
		revoked time.Time
	}
	var revokedID string
	r := revocable[token]{
		noun: "key", revoked: ".",
		list: func(context.Context) ([]token, error) {
			return []token{{id: "a"}, {id: "bb", revoked: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}}, nil
		},
		revoke: func(_ context.Context, id string) error { revokedID = id; return nil },
		head:   []string{"ID", "STATUS"},
		row:    func(x token) []string { return []string{x.id, status(!x.revoked.IsZero(), x.revoked)} },
	}
	var out, msg bytes.Buffer
	if err := r.run(context.Background(), "list", "", &out, &msg); err != nil {
		t.Fatal(err)
	}
	if want := "ID  STATUS\na   active\nbb  revoked 2026-03-01 09:00:00\n"; out.String() != want {
		t.Errorf("list printed\n%s\nwant\n%s", out.String(), want)
	}
	err := r.run(context.Background(), "revoke", "", &out, &msg)
	if err == nil || err.Error() != "which key? credstats keys revoke ID (see credstats keys list)" {
		t.Errorf("revoke without an id: %v", err)
	}
	if err := r.run(context.Background(), "revoke", "bb", &out, &msg); err != nil || revokedID != "bb" || msg.String() != "Revoked key bb.\n" {
		t.Errorf("revoke bb: %v, revoked %q, said %q", err, revokedID, msg.String())
	}
	r.revoke = func(context.Context, string) error { return errors.New("no such key") }
	if err := r.run(context.Background(), "revoke", "zz", &out, &msg); err == nil {
		t.Error("a failed revocation reported success")
	}

	f := func(sub string, args []string, wantID string, wantRest int) {
		t.Helper()
		if id, rest := revokeID(sub, args); id != wantID || len(rest) != wantRest {
			t.Errorf("revokeID(%s, %q) = %q, %q", sub, args, id, rest)
		}
	}
	f("revoke", []string{"abc", "--clickhouse", "x"}, "abc", 2)
	f("revoke", []string{"--clickhouse", "x"}, "", 2)
	f("list", []string{"abc"}, "", 1)
}
