package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// ErrOutcomeUnknown marks a write whose request reached the wire but whose
// answer never came back (the connection broke, the attempt timed out, a
// gateway gave up): the daemon may or may not have applied it. The client
// never retries such a write; read the flag to find out. The error also
// matches its cause (flagcache.ErrUnavailable for a broken connection or a
// timeout, context.Canceled when the caller gave up).
var ErrOutcomeUnknown = errors.New("the write may or may not have been applied")

// Error is an error response of the API. It unwraps to what the code
// means in package flagcache (the table of package wire), so callers test
// it with errors.Is and errors.As as they would any Store's errors:
//
//	not_found          flagcache.ErrNotFound
//	already_exists     flagcache.ErrAlreadyExists
//	version_conflict   a *flagcache.VersionConflictError with the server's versions
//	invalid_argument   a *flagcache.InvalidError naming the field
//	payload_too_large  a *flagcache.InvalidError for the field "body"
//	unauthenticated    flagcache.ErrUnauthenticated
//	permission_denied  flagcache.ErrPermissionDenied
//	resync_needed      flagcache.ErrResyncNeeded (410)
//	unavailable        flagcache.ErrUnavailable (also 502 and 504)
//	internal           nothing: a bug or an unexpected server failure
type Error struct {
	Status    int    // HTTP status
	Code      string // the API's error code
	Message   string // the server's message
	RequestID string // X-Request-Id of the response: the server log has it
	cause     error
	header    http.Header // of the response (nil for errors made locally)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	b.WriteString(" (HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.RequestID != "" {
		b.WriteString(", request id ")
		b.WriteString(e.RequestID)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the flagcache error the code maps to (nil for internal).
func (e *Error) Unwrap() error { return e.cause }

// responseError maps an error response to an *Error. A body without the
// API's envelope (a proxy's page, a server that is not flagcache) keeps
// the meaning of only the statuses that say the same from anyone; a HEAD
// response never has a body, so its status is all there is.
func responseError(cl *call, res *http.Response, body []byte) error {
	e := &Error{Status: res.StatusCode, RequestID: res.Header.Get(wire.RequestIDHeader), header: res.Header}
	var env wire.ErrorBody
	var field string
	var expected, actual *int64
	if json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		field, expected, actual = env.Error.Field, env.Error.Expected, env.Error.Actual
	} else {
		e.Code = wire.CodeOfStatus(res.StatusCode, cl.method == http.MethodHead)
		e.Message = http.StatusText(res.StatusCode)
		if text := strings.TrimSpace(string(body)); text != "" {
			e.Message += ": " + truncate(text, 200)
		}
		if e.Code == "" {
			e.Message = "unexpected response from " + cl.method + " " + cl.path + " (is this a flagcache daemon?): " + e.Message
		}
	}
	if e.Message == "" {
		e.Message = e.Code
	}
	switch e.Code {
	case wire.CodeInvalidArgument, wire.CodePayloadTooLarge:
		if e.Code == wire.CodePayloadTooLarge && field == "" {
			field = "body"
		}
		e.cause = &flagcache.InvalidError{Field: field, Reason: reason(e.Message, field)}
	case wire.CodeVersionConflict:
		vc := &flagcache.VersionConflictError{ID: cl.id, Expected: cl.ifMatch}
		if expected != nil {
			vc.Expected = *expected
		}
		if actual != nil {
			vc.Actual = *actual
		}
		e.cause = vc
	default:
		code, _ := wire.Lookup(e.Code)
		e.cause = code.Err // nil for internal and codes this client does not know
	}
	if e.Code == wire.CodeUnavailable && !cl.read &&
		(res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusGatewayTimeout) {
		// A gateway forwarded the write and lost the answer.
		return &outcomeError{op: cl.method + " " + cl.path, cause: e, unavailable: true}
	}
	return e
}

// reason strips the "invalid FIELD: " prefix flagcache.InvalidError puts
// in its message, so the rebuilt error prints the same text.
func reason(msg, field string) string {
	prefix := "invalid argument: "
	if field != "" {
		prefix = "invalid " + field + ": "
	}
	if r, ok := strings.CutPrefix(msg, prefix); ok {
		return r
	}
	return msg
}

// transportError maps a failure to get a response. A write that was sent
// has an unknown outcome.
func transportError(ctx context.Context, cl *call, err error, sent bool) error {
	op := cl.method + " " + cl.path
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller gave up: say so with ctx's own error.
		if !cl.read && sent {
			return &outcomeError{op: op, cause: ctxErr}
		}
		return fmt.Errorf("client: %s: %w", op, ctxErr)
	}
	if !cl.read && sent {
		return &outcomeError{op: op, cause: err, unavailable: true}
	}
	return flagcache.Unavailable(fmt.Errorf("client: %s: %w", op, err))
}

// outcomeError is a write that may or may not have been applied.
type outcomeError struct {
	op          string
	cause       error
	unavailable bool
}

func (e *outcomeError) Error() string {
	return "client: " + e.op + ": outcome unknown, the write may or may not have been applied (read the flag to find out): " + e.cause.Error()
}

func (e *outcomeError) Unwrap() []error {
	if e.unavailable {
		return []error{ErrOutcomeUnknown, flagcache.ErrUnavailable, e.cause}
	}
	return []error{ErrOutcomeUnknown, e.cause}
}

// notFound is the error of a read the local cache answers "absent": the
// same as the daemon's 404.
func notFound(id flagcache.ID) error {
	return errorOf(wire.CodeNotFound, fmt.Sprintf("flag %q not found", id))
}

// errorOf is an *Error the client makes itself, not read from a response:
// the status and the flagcache error of code are wire's.
func errorOf(code, message string) *Error {
	row, _ := wire.Lookup(code)
	return &Error{Status: row.Status, Code: code, Message: message, cause: row.Err}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
