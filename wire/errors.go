package wire

import (
	"errors"
	"net/http"

	"github.com/flagcache/flagcache"
)

// ErrorBody is the body of every error response:
// {"error": {"code": …, "message": …}}. Error is nil in a body that lacks
// the envelope (a proxy's page, a server that is not flagcache).
type ErrorBody struct {
	Error *ErrorDetail `json:"error"`
}

// ErrorDetail is the error object: a stable code, a message for people,
// the offending field of an invalid_argument, and both versions of a
// version_conflict.
type ErrorDetail struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Field    string `json:"field,omitempty"`
	Expected *int64 `json:"expected,omitempty"`
	Actual   *int64 `json:"actual,omitempty"`
}

// The error codes of the API.
const (
	CodeInvalidArgument      = "invalid_argument"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRequestTimeout       = "request_timeout"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeAlreadyExists        = "already_exists"
	CodeVersionConflict      = "version_conflict"
	CodeResyncNeeded         = "resync_needed"
	CodeUnauthenticated      = "unauthenticated"
	CodePermissionDenied     = "permission_denied"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
)

// Code is one row of the error table: a code, the status the daemon sends
// it with, and the flagcache error it means.
type Code struct {
	Name   string
	Status int
	// Err is the flagcache error a client's error for the code matches
	// with errors.Is (nil: none, the code has no meaning in a Store's
	// contract). For invalid_argument and payload_too_large it is an
	// *flagcache.InvalidError, for version_conflict a
	// *flagcache.VersionConflictError; both match Err.
	Err error
	// Bare: the status means this code whoever sent it (a proxy, a
	// gateway), so a client may read the code from a response that lacks
	// the API's error body.
	Bare bool
}

// codes is the table, in the order a server tests an error against the
// sentinels: the first that matches names the code.
var codes = [...]Code{
	{CodeVersionConflict, http.StatusPreconditionFailed, flagcache.ErrVersionConflict, false},
	{CodeInvalidArgument, http.StatusBadRequest, flagcache.ErrInvalidArgument, false},
	{CodeNotFound, http.StatusNotFound, flagcache.ErrNotFound, false},
	{CodeAlreadyExists, http.StatusConflict, flagcache.ErrAlreadyExists, false},
	{CodeResyncNeeded, http.StatusGone, flagcache.ErrResyncNeeded, false},
	{CodeUnauthenticated, http.StatusUnauthorized, flagcache.ErrUnauthenticated, true},
	{CodePermissionDenied, http.StatusForbidden, flagcache.ErrPermissionDenied, true},
	{CodeUnavailable, http.StatusServiceUnavailable, flagcache.ErrUnavailable, true},
	{CodePayloadTooLarge, http.StatusRequestEntityTooLarge, flagcache.ErrInvalidArgument, true},
	{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, nil, false},
	{CodeRequestTimeout, http.StatusRequestTimeout, nil, false},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, nil, false},
	{CodeInternal, http.StatusInternalServerError, nil, false},
}

// gatewayStatuses are statuses flagcache does not send that mean
// unavailable from anyone: too many requests, a bad gateway, a gateway
// timeout.
var gatewayStatuses = [...]int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout}

// Codes returns the error table, one row per code.
func Codes() []Code { return append([]Code(nil), codes[:]...) }

// Lookup returns the row of the code name.
func Lookup(name string) (Code, bool) {
	for _, c := range codes {
		if c.Name == name {
			return c, true
		}
	}
	return Code{}, false
}

// Status returns the status of the code name: 500 for a code not in the
// table.
func Status(name string) int {
	if c, ok := Lookup(name); ok {
		return c.Status
	}
	return http.StatusInternalServerError
}

// CodeOf returns the row of the first code whose flagcache error err
// matches (errors.Is), and false when none does (an internal error).
func CodeOf(err error) (Code, bool) {
	for _, c := range codes {
		if c.Err != nil && errors.Is(err, c.Err) {
			return c, true
		}
	}
	return Code{}, false
}

// CodeOfStatus returns the code a status means in a response without the
// API's error body: only statuses that mean the same from anyone (Bare,
// and the gateway statuses for unavailable), unless trustAll (the response
// to a HEAD, which has no body, from a flagcache daemon). "" when the
// status says nothing.
func CodeOfStatus(status int, trustAll bool) string {
	for _, c := range codes {
		if c.Status == status && (c.Bare || trustAll) {
			return c.Name
		}
	}
	for _, s := range gatewayStatuses {
		if s == status {
			return CodeUnavailable
		}
	}
	return ""
}
