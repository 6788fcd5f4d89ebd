package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/flagcache/flagcache"
)

// StatusClientClosedRequest is the status recorded (in metrics and logs)
// when the client went away before the response: nothing is sent, not
// even the status line. (A client that is still there but stalls its body
// gets 408.)
const StatusClientClosedRequest = 499

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
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

// apiError is an error the handler raises itself, with its own status.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

// flagError names id in the message of a not-found or already-exists error.
func flagError(id flagcache.ID, err error) error {
	switch {
	case errors.Is(err, flagcache.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("flag %q not found", id)}
	case errors.Is(err, flagcache.ErrAlreadyExists):
		return &apiError{http.StatusConflict, "already_exists", fmt.Sprintf("flag %q already exists", id)}
	}
	return err
}

// classify is the one place where errors become statuses and codes.
// Details of 5xx errors stay in the log, not in the response.
func classify(r *http.Request, err error) (int, ErrorDetail) {
	var (
		api      *apiError
		tooLarge *http.MaxBytesError
		conflict *flagcache.VersionConflictError
		invalid  *flagcache.InvalidError
	)
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return StatusClientClosedRequest, ErrorDetail{}
	case errors.As(err, &api):
		return api.status, ErrorDetail{Code: api.code, Message: api.message}
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, ErrorDetail{Code: "payload_too_large",
			Message: "request body is larger than " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes"}
	case errors.As(err, &conflict):
		return http.StatusPreconditionFailed, ErrorDetail{Code: "version_conflict", Message: err.Error(),
			Expected: &conflict.Expected, Actual: &conflict.Actual}
	case errors.Is(err, flagcache.ErrVersionConflict):
		return http.StatusPreconditionFailed, ErrorDetail{Code: "version_conflict", Message: err.Error()}
	case errors.Is(err, flagcache.ErrInvalidArgument):
		d := ErrorDetail{Code: "invalid_argument", Message: err.Error()}
		if errors.As(err, &invalid) {
			d.Field = invalid.Field
		}
		return http.StatusBadRequest, d
	case errors.Is(err, flagcache.ErrNotFound):
		return http.StatusNotFound, ErrorDetail{Code: "not_found", Message: err.Error()}
	case errors.Is(err, flagcache.ErrAlreadyExists):
		return http.StatusConflict, ErrorDetail{Code: "already_exists", Message: err.Error()}
	case errors.Is(err, flagcache.ErrResyncNeeded):
		return http.StatusGone, ErrorDetail{Code: "resync_needed", Message: err.Error() +
			": list all flags, then continue from the revision of GET /v1/changes?after=0"}
	case errors.Is(err, flagcache.ErrUnauthenticated):
		return http.StatusUnauthorized, ErrorDetail{Code: "unauthenticated", Message: err.Error()}
	case errors.Is(err, flagcache.ErrPermissionDenied):
		return http.StatusForbidden, ErrorDetail{Code: "permission_denied", Message: err.Error()}
	case errors.Is(err, flagcache.ErrUnavailable):
		return http.StatusServiceUnavailable, ErrorDetail{Code: "unavailable",
			Message: "the flag source is unavailable; retry later (request id " + RequestID(r.Context()) + ")"}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, ErrorDetail{Code: "unavailable",
			Message: "the flag source did not answer in time; retry later (request id " + RequestID(r.Context()) + ")"}
	}
	return http.StatusInternalServerError, ErrorDetail{Code: "internal",
		Message: "internal error; the server log has the details under request id " + RequestID(r.Context())}
}

// writeError maps err to its response. Server-side failures are logged
// with their detail, which the client does not see.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := classify(r, err)
	log := logger(r.Context(), h.log)
	switch {
	case status == StatusClientClosedRequest:
		log.Debug("client went away", slog.String("path", r.URL.Path))
		if sw, ok := w.(*statusWriter); ok && sw.status == 0 {
			sw.status = status // for metrics and logs only: 499 is not HTTP
		}
		return
	case status >= 500:
		log.Error("request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.String("error", err.Error()))
	}
	switch status {
	case http.StatusServiceUnavailable:
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	case http.StatusUnauthorized:
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="flagcache"`)
		}
	}
	writeJSON(w, status, ErrorBody{Error: detail})
}

// writeJSON encodes v and writes it with status. Everything the API
// encodes is plain data, so an encoding failure is a programming error.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"response encoding failed"}}`)
	}
	writeBody(w, status, body)
}

// writeBody writes an encoded JSON body with status.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
