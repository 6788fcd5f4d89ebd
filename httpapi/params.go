package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

var (
	filterParams = []string{"status", "environment", "tag", "owner", "include_archived"}
	pageParams   = []string{"offset", "limit"}
)

// decode reads a JSON body of at most MaxBodyBytes into v. The body must
// be sent as application/json (415 otherwise: a web page can POST
// text/plain to a loopback daemon without a CORS preflight). Envelope types
// reject unknown fields; flagcache.Definition keeps them (its own decoder
// does). One JSON object, nothing after it. A body that stalls past the
// server's ReadTimeout is a 408.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := jsonContentType(r.Header.Values("Content-Type")); err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var (
			tooLarge *http.MaxBytesError
			netErr   net.Error
		)
		if errors.As(err, &tooLarge) {
			return err
		}
		if errors.As(err, &netErr) && netErr.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			return &apiError{wire.CodeRequestTimeout, "the request body did not arrive in time"}
		}
		if ctxErr := r.Context().Err(); ctxErr != nil {
			return ctxErr
		}
		return &apiError{wire.CodeInvalidArgument, "could not read the request body: " + err.Error()}
	}
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		return flagcache.Invalid("body", "empty: send a JSON object")
	case data[0] != '{':
		return flagcache.Invalid("body", "must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return flagcache.Invalid("body", "unexpected data after the JSON object")
	}
	return nil
}

// jsonContentType accepts exactly one Content-Type of media type
// application/json (parameters such as charset=utf-8 allowed).
func jsonContentType(values []string) error {
	unsupported := func(got string) error {
		return &apiError{wire.CodeUnsupportedMediaType,
			"send the body as Content-Type: application/json" + got}
	}
	if len(values) != 1 {
		if len(values) == 0 {
			return unsupported(" (no Content-Type given)")
		}
		return unsupported(" (Content-Type given more than once)")
	}
	mt, _, err := mime.ParseMediaType(values[0])
	if err != nil || mt != "application/json" {
		return unsupported(", not " + strconv.Quote(truncate(values[0], 64)))
	}
	return nil
}

// jsonError words a decoding error for the client.
func jsonError(err error) error {
	var (
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return flagcache.Invalid("body", "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &wrongType):
		// The field is the decoder's (Field) or the path that
		// flagcache.Definition's decoder puts before the error ("kind: ").
		field := wrongType.Field
		if field == "" {
			prefix := strings.TrimSuffix(strings.TrimSuffix(err.Error(), wrongType.Error()), ": ")
			field = strings.ReplaceAll(prefix, ": ", ".")
		}
		if field == "" {
			field = "body"
		}
		return flagcache.Invalid(field, "JSON %s where %s was expected", wrongType.Value, jsonTypeName(wrongType.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return flagcache.Invalid("body", "malformed JSON: unexpected end of input")
	}
	return flagcache.Invalid("body", "%s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a number"
}

// checkParams refuses query parameters outside allowed, naming the first.
func checkParams(vals url.Values, allowed ...[]string) error {
	all := slices.Concat(allowed...)
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if !slices.Contains(all, k) {
			return flagcache.Invalid(k, "unknown query parameter; this call takes %s", strings.Join(all, ", "))
		}
	}
	return nil
}

// single returns the value of a parameter given at most once; an empty
// value is the same as leaving it out.
func single(vals url.Values, name string) (string, error) {
	switch v := vals[name]; len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", flagcache.Invalid(name, "given more than once")
}

// integer parses an optional integer parameter in [lo, hi], def if absent.
func integer(vals url.Values, name string, def, lo, hi int64) (int64, error) {
	s, err := single(vals, name)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return 0, flagcache.Invalid(name, "%q is not an integer", truncate(s, 32))
	case n < lo || n > hi:
		return 0, flagcache.Invalid(name, "%d is out of range: use %d to %d", n, lo, hi)
	}
	return n, nil
}

// parseQuery reads the filters of list and count, and with paged the
// offset (default 0) and limit (default 100, at most 1000).
func parseQuery(vals url.Values, paged bool) (flagcache.Query, error) {
	var q flagcache.Query
	allowed := [][]string{filterParams}
	if paged {
		allowed = append(allowed, pageParams)
	}
	if err := checkParams(vals, allowed...); err != nil {
		return q, err
	}
	var status, archived string
	var err error
	for _, p := range []struct {
		name string
		dst  *string
	}{{"status", &status}, {"environment", &q.Environment}, {"owner", &q.Owner}, {"include_archived", &archived}} {
		if *p.dst, err = single(vals, p.name); err != nil {
			return q, err
		}
	}
	q.Status = flagcache.Status(status)
	if archived != "" {
		if q.IncludeArchived, err = strconv.ParseBool(archived); err != nil {
			return q, flagcache.Invalid("include_archived", "%q is not true or false", truncate(archived, 32))
		}
	}
	for _, t := range vals["tag"] {
		if t != "" {
			q.Tags = append(q.Tags, t)
		}
	}
	if paged {
		offset, err := integer(vals, "offset", 0, 0, 1<<31-1)
		if err != nil {
			return q, err
		}
		limit, err := integer(vals, "limit", wire.DefaultPage, 1, wire.MaxPage)
		if err != nil {
			return q, err
		}
		q.Offset, q.Limit = int(offset), int(limit)
	}
	return q, q.Validate()
}

// modifiedPage is the cursor and limit of a modifiedSince page.
type modifiedPage struct {
	since   time.Time
	afterID flagcache.ID
	limit   int
}

// parseModified reads the required since of modifiedSince, the optional
// after_id that continues a page, and limit (default and maximum 1000).
func parseModified(vals url.Values) (modifiedPage, error) {
	var p modifiedPage
	if err := checkParams(vals, []string{"since", "after_id", "limit"}); err != nil {
		return p, err
	}
	s, err := single(vals, "since")
	if err != nil {
		return p, err
	}
	if s == "" {
		return p, flagcache.Invalid("since", "required: an RFC 3339 time such as 2026-11-25T10:00:00Z")
	}
	if p.since, err = time.Parse(time.RFC3339Nano, s); err != nil {
		hint := ""
		if strings.Contains(s, " ") {
			hint = " (a + in the offset must be sent as %2B)"
		}
		return p, flagcache.Invalid("since", "%q is not an RFC 3339 time such as 2026-11-25T10:00:00Z%s", truncate(s, 64), hint)
	}
	id, err := single(vals, "after_id")
	if err != nil {
		return p, err
	}
	if p.afterID = flagcache.ID(id); id != "" {
		if err := p.afterID.Validate(); err != nil {
			return p, flagcache.Invalid("after_id", "%s", err.(*flagcache.InvalidError).Reason)
		}
	}
	n, err := integer(vals, "limit", wire.MaxPage, 1, wire.MaxPage)
	p.limit = int(n)
	return p, err
}

// parseChanges reads after (default 0) and limit (default 100, at most
// 1000) of the change feed.
func parseChanges(vals url.Values) (after int64, limit int, err error) {
	if err := checkParams(vals, []string{"after", "limit"}); err != nil {
		return 0, 0, err
	}
	if after, err = integer(vals, "after", 0, 0, 1<<63-1); err != nil {
		return 0, 0, err
	}
	n, err := integer(vals, "limit", wire.DefaultPage, 1, wire.MaxPage)
	return after, int(n), err
}
