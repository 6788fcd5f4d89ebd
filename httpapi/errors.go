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
	"github.com/flagcache/flagcache/wire"
)

// StatusClientClosedRequest is the status recorded (in metrics and logs)
// when the client went away before the response: nothing is sent, not
// even the status line. (A client that is still there but stalls its body
// gets 408.)
const StatusClientClosedRequest = 499

// apiError is an error the handler raises itself, with its own code (the
// status is the code's, from the wire table).
type apiError struct {
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

// flagError names id in the message of a not-found or already-exists error.
func flagError(id flagcache.ID, err error) error {
	switch {
	case errors.Is(err, flagcache.ErrNotFound):
		return &apiError{wire.CodeNotFound, fmt.Sprintf("flag %q not found", id)}
	case errors.Is(err, flagcache.ErrAlreadyExists):
		return &apiError{wire.CodeAlreadyExists, fmt.Sprintf("flag %q already exists", id)}
	}
	return err
}

// classify is the one place where errors become statuses and codes: the
// wire table maps flagcache's errors to both; what is added here is the
// detail (fields, versions, messages). Details of 5xx errors stay in the
// log, not in the response.
func classify(r *http.Request, err error) (int, wire.ErrorDetail) {
	var (
		api      *apiError
		tooLarge *http.MaxBytesError
		conflict *flagcache.VersionConflictError
		invalid  *flagcache.InvalidError
	)
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return StatusClientClosedRequest, wire.ErrorDetail{}
	case errors.As(err, &api):
		return wire.Status(api.code), wire.ErrorDetail{Code: api.code, Message: api.message}
	case errors.As(err, &tooLarge):
		return wire.Status(wire.CodePayloadTooLarge), wire.ErrorDetail{Code: wire.CodePayloadTooLarge,
			Message: "request body is larger than " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes"}
	}
	code, ok := wire.CodeOf(err)
	switch {
	case !ok && errors.Is(err, context.DeadlineExceeded):
		return wire.Status(wire.CodeUnavailable), wire.ErrorDetail{Code: wire.CodeUnavailable,
			Message: "the flag source did not answer in time; retry later (request id " + RequestID(r.Context()) + ")"}
	case !ok:
		return wire.Status(wire.CodeInternal), wire.ErrorDetail{Code: wire.CodeInternal,
			Message: "internal error; the server log has the details under request id " + RequestID(r.Context())}
	}
	d := wire.ErrorDetail{Code: code.Name, Message: err.Error()}
	switch code.Name {
	case wire.CodeVersionConflict:
		if errors.As(err, &conflict) {
			d.Expected, d.Actual = &conflict.Expected, &conflict.Actual
		}
	case wire.CodeInvalidArgument:
		if errors.As(err, &invalid) {
			d.Field = invalid.Field
		}
	case wire.CodeResyncNeeded:
		d.Message += ": list all flags, then continue from the revision of GET /v1/changes?after=0"
	case wire.CodeUnavailable:
		d.Message = "the flag source is unavailable; retry later (request id " + RequestID(r.Context()) + ")"
	}
	return code.Status, d
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
	writeJSON(w, status, wire.ErrorBody{Error: &detail})
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
