package event

import (
	"fmt"
	"slices"
	"strings"
)

// Enum is a closed set of names as ClickHouse stores it, in an Enum8
// column. A name's code is the value of its Go constant; a set whose zero
// value means "not set" (Type, Actor, Source) stores codes from 1.
//
// The migrations created the Enum8 columns with exactly the names and
// codes of the event's sets, so a change to a set needs a migration:
// schema's live-schema test fails until it has one.
type Enum struct {
	// Field names the event's field and the column that stores it.
	Field string
	first int
	names []string // names[i] has the code first+i
}

// Value is one name of an Enum with its code.
type Value struct {
	Name string
	Code int8
}

func (v Value) String() string { return fmt.Sprintf("'%s' = %d", v.Name, v.Code) }

// Values lists the set's names with their codes, in code order.
func (e Enum) Values() []Value {
	vs := make([]Value, len(e.names))
	for i, n := range e.names {
		vs[i] = Value{Name: n, Code: int8(e.first + i)}
	}
	return vs
}

// Names lists the set's names in code order.
func (e Enum) Names() []string { return slices.Clone(e.names) }

// Has reports whether code is in the set.
func (e Enum) Has(code int) bool { return code >= e.first && code-e.first < len(e.names) }

// Name returns the name of code, or "" for a code not in the set.
func (e Enum) Name(code int) string {
	if !e.Has(code) {
		return ""
	}
	return e.names[code-e.first]
}

// Code returns the code of name; ok is false for a name not in the set.
func (e Enum) Code(name string) (code int, ok bool) {
	i := slices.Index(e.names, name)
	if i < 0 {
		return 0, false
	}
	return e.first + i, true
}

// Enum8 is the ClickHouse type of a column that stores the set, as the
// server writes it: Enum8('view' = 1, 'share' = 2, ...).
func (e Enum) Enum8() string {
	var b strings.Builder
	b.WriteString("Enum8(")
	for i, v := range e.Values() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	b.WriteString(")")
	return b.String()
}

// codes lists the set's codes as values of its Go type.
func codes[T ~uint8](e Enum) []T {
	out := make([]T, len(e.names))
	for i := range out {
		out[i] = T(e.first + i)
	}
	return out
}
