package query

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Error is a query the client has to fix. Field names what is wrong: a
// member of the query such as "metrics" or "filters[1]", or "body" for
// the JSON as a whole.
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) *Error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// queryError keeps ClickHouse's own words for the log; a zone ClickHouse
// does not know is the client's to fix.
func queryError(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && strings.Contains(ex.Message, "time zone") {
		return invalid("timezone", "the ClickHouse server does not know this time zone")
	}
	return fmt.Errorf("cannot run the stats query: %w", err)
}
