// Package apierr is the one place where errors become HTTP statuses and the
// JSON error envelope {"error": {"code": "...", "message": "..."}}.
package apierr

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

// New returns an *Error.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// The envelope codes, after the Certifier API's where they fit.
func Invalid(msg string) *Error      { return New(http.StatusBadRequest, "invalid_request", msg) }
func Unauthorized(msg string) *Error { return New(http.StatusUnauthorized, "unauthorized", msg) }
func Forbidden(msg string) *Error    { return New(http.StatusForbidden, "forbidden", msg) }
func NotFound(msg string) *Error     { return New(http.StatusNotFound, "not_found", msg) }
func Unavailable(msg string) *Error  { return New(http.StatusServiceUnavailable, "unavailable", msg) }
func RateLimited(msg string) *Error  { return New(http.StatusTooManyRequests, "rate_limited", msg) }

var (
	ErrTooLarge    = New(http.StatusRequestEntityTooLarge, "payload_too_large", "the request body is too large")
	ErrRateLimited = New(http.StatusTooManyRequests, "rate_limited", "too many requests from this address; slow down")
	ErrInternal    = New(http.StatusInternalServerError, "internal_server_error", "something went wrong on our side")
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
			return New(http.StatusMethodNotAllowed, "method_not_allowed", fiberErr.Message)
		case http.StatusTooManyRequests:
			return ErrRateLimited
		case http.StatusRequestTimeout:
			return New(http.StatusRequestTimeout, "invalid_request", "the request did not arrive in time")
		case http.StatusRequestHeaderFieldsTooLarge:
			return New(http.StatusRequestHeaderFieldsTooLarge, "invalid_request", "the request's headers are too large")
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

// Handler returns a Fiber error handler that answers every error with the
// envelope and logs the ones that are ours (5xx).
func Handler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		e := From(err)
		if e.Status >= 500 && e != err {
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		return c.Status(e.Status).JSON(Envelope(e))
	}
}

// BadgesNinja wraps a handler of a badges.ninja-compatible route so that its
// errors answer in that API's envelope, {"error": "..."}, with the status
// they would have anywhere else.
func BadgesNinja(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		if err == nil {
			return nil
		}
		e := From(err)
		return c.Status(e.Status).JSON(fiber.Map{"error": e.Message})
	}
}
