// Package edge is what every HTTP route shares at the edge of the service:
// the one place where errors become statuses and the JSON error envelope
// {"error": {"code": "...", "message": "..."}}, and the Gate that finds a
// request's client address and holds each client to its rate.
package edge

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/event"
)

// Error is an error with its HTTP status and envelope code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError returns an *Error.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// The envelope codes, after the Certifier API's where they fit.
func Invalid(msg string) *Error      { return errorOf(http.StatusBadRequest, msg) }
func Unauthorized(msg string) *Error { return errorOf(http.StatusUnauthorized, msg) }
func Forbidden(msg string) *Error    { return errorOf(http.StatusForbidden, msg) }
func NotFound(msg string) *Error     { return errorOf(http.StatusNotFound, msg) }
func Unavailable(msg string) *Error  { return errorOf(http.StatusServiceUnavailable, msg) }
func RateLimited(msg string) *Error  { return errorOf(http.StatusTooManyRequests, msg) }

var codes = map[int]string{
	http.StatusBadRequest:         "invalid_request",
	http.StatusUnauthorized:       "unauthorized",
	http.StatusForbidden:          "forbidden",
	http.StatusNotFound:           "not_found",
	http.StatusServiceUnavailable: "unavailable",
	http.StatusTooManyRequests:    "rate_limited",
}

func errorOf(status int, msg string) *Error { return NewError(status, codes[status], msg) }

var (
	ErrTooLarge    = NewError(http.StatusRequestEntityTooLarge, "payload_too_large", "the request body is too large")
	ErrRateLimited = NewError(http.StatusTooManyRequests, "rate_limited", "too many requests from this address; slow down")
	ErrInternal    = NewError(http.StatusInternalServerError, "internal_server_error", "something went wrong on our side")
)

// From maps any error onto an *Error: validation errors are 400s naming
// their field, Fiber's own errors keep their status, and anything unknown
// is a 500 whose details stay in the log.
func From(err error) *Error {
	var e *Error
	var fe *event.FieldError
	var fiberErr *fiber.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &fe):
		return Invalid(fe.Error())
	case errors.Is(err, event.ErrMalformed):
		return Invalid(err.Error())
	case errors.As(err, &fiberErr):
		switch fiberErr.Code {
		case http.StatusRequestEntityTooLarge:
			return ErrTooLarge
		case http.StatusNotFound:
			return NotFound("no such route: check the path")
		case http.StatusMethodNotAllowed:
			return NewError(http.StatusMethodNotAllowed, "method_not_allowed", fiberErr.Message)
		case http.StatusTooManyRequests:
			return ErrRateLimited
		case http.StatusRequestTimeout:
			return NewError(http.StatusRequestTimeout, "invalid_request", "the request did not arrive in time")
		case http.StatusRequestHeaderFieldsTooLarge:
			return NewError(http.StatusRequestHeaderFieldsTooLarge, "invalid_request", "the request's headers are too large")
		case http.StatusBadGateway:
			// Fiber's word for a request it could not read because the
			// client's connection failed: nothing of ours went wrong.
			return Invalid("the request could not be read")
		}
		if fiberErr.Code < 500 {
			return Invalid(fiberErr.Message)
		}
	}
	return ErrInternal
}

// Body is the JSON error envelope.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the inside of the envelope.
type Detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Envelope returns the JSON body for e.
func Envelope(e *Error) any {
	return Body{Error: Detail{Code: e.Code, Message: e.Message}}
}

// ErrorHandler returns a Fiber error handler that answers every error with
// the envelope and logs the ones that are ours (5xx).
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		e := From(err)
		if e.Status >= 500 && e != err {
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		return c.Status(e.Status).JSON(Envelope(e))
	}
}
