// Package config reads a command's flags with their environment fallbacks:
// every flag --some-flag may also be given as CREDSTATS_SOME_FLAG, and a
// flag on the command line wins. Problems are gathered, not stopped at, so
// that start-up reports all of them together.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName is the environment variable that stands in for a flag.
func EnvName(flagName string) string {
	return "CREDSTATS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then fills every flag not given on the command
// line from its environment variable. It returns every problem it met.
func Parse(fs *flag.FlagSet, args []string) error {
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
		}
	})
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	return errors.Join(errs...)
}

// Check collects the result of one configuration check.
type Check []error

// Add records a problem with a flag when bad is true.
func (c *Check) Add(bad bool, flagName, format string, args ...any) {
	if bad {
		*c = append(*c, fmt.Errorf("--%s: %s", flagName, fmt.Sprintf(format, args...)))
	}
}

// Err returns every recorded problem as one error, or nil.
func (c Check) Err() error { return errors.Join(c...) }

// StringList is a repeatable or comma-separated flag.
type StringList []string

func (l *StringList) String() string { return strings.Join(*l, ",") }

func (l *StringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage: credstats %s [flags]\n\nFlags (each also read from the environment variable shown):\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(out, "  --%s\t%s%s\n    \t$%s\n", f.Name, f.Usage, def, EnvName(f.Name))
	})
}

// ClusterFlag defines --cluster, shared by every command that creates or
// checks the schema.
func ClusterFlag(fs *flag.FlagSet) *string {
	return fs.String("cluster", "", "ClickHouse cluster (a name in the servers' remote_servers): tables are created ON CLUSTER as NAME_local with Distributed tables of their own names in front, and inserts wait for every shard (empty: one server)")
}
