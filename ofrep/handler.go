package ofrep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/flagcache/flagcache"
)

// Paths of the two OFREP evaluation endpoints.
const (
	BulkPath   = "/ofrep/v1/evaluate/flags"
	SinglePath = BulkPath + "/" // + {key}
)

// DefaultMaxBodyBytes caps request bodies when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// ContextEnvironment is the evaluation context attribute that names the
// environment to evaluate in.
const ContextEnvironment = "environment"

// Token binds a bearer token (or X-API-Key) to an environment: requests
// carrying it whose context names no environment evaluate there.
type Token struct {
	Secret      string
	Environment string
}

func (t Token) String() string { return "token [redacted] → " + t.Environment }

// LogValue implements slog.LogValuer.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Options configure a Handler. The zero value serves without bound tokens
// and without a default environment.
type Options struct {
	// DefaultEnvironment is used when neither the context nor the token
	// names one. Empty: such a request is INVALID_CONTEXT.
	DefaultEnvironment string
	// Tokens bind tokens to environments. The Handler does not
	// authenticate (the daemon does, before it); it only reads the token
	// to find its environment.
	Tokens []Token
	// MaxBodyBytes caps request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// Logger receives failures the caller does not see in full. Default:
	// discard.
	Logger *slog.Logger
}

// Handler serves POST /ofrep/v1/evaluate/flags/{key} and POST
// /ofrep/v1/evaluate/flags over a flagcache.Store.
type Handler struct {
	store  flagcache.Store
	hits   flagcache.HitReader // the store, when it reports staleness
	opts   Options
	tokens []boundToken
	memo   sync.Map // memoKey → *memoBody: answers for cached copies
}

type boundToken struct {
	sum [sha256.Size]byte
	env string
}

// NewHandler returns a Handler over store. It fails on an invalid
// environment name or a token without a secret.
func NewHandler(store flagcache.Store, opts Options) (*Handler, error) {
	if opts.DefaultEnvironment != "" && !flagcache.ValidEnvironment(opts.DefaultEnvironment) {
		return nil, fmt.Errorf("ofrep: default environment %q is not an environment name", opts.DefaultEnvironment)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{store: store, opts: opts}
	h.hits, _ = store.(flagcache.HitReader)
	for i, t := range opts.Tokens {
		if t.Secret == "" {
			return nil, fmt.Errorf("ofrep: token %d has an empty secret", i)
		}
		if !flagcache.ValidEnvironment(t.Environment) {
			return nil, fmt.Errorf("ofrep: token %d: environment %q is not an environment name", i, t.Environment)
		}
		h.tokens = append(h.tokens, boundToken{sha256.Sum256([]byte(t.Secret)), t.Environment})
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, generalError{r.Method + " is not allowed; use POST"})
		return
	}
	switch {
	case r.URL.Path == BulkPath:
		h.bulk(w, r)
	case strings.HasPrefix(r.URL.Path, SinglePath):
		key := r.PathValue("key")
		if key == "" {
			key = strings.TrimPrefix(r.URL.Path, SinglePath)
		}
		h.single(w, r, key)
	default:
		writeJSON(w, http.StatusNotFound, generalError{"no OFREP route " + r.URL.Path})
	}
}

// Response bodies, in OFREP's shapes.
type (
	success struct {
		Key      string          `json:"key"`
		Reason   string          `json:"reason"`
		Variant  string          `json:"variant,omitempty"`
		Metadata map[string]any  `json:"metadata,omitempty"`
		Value    json.RawMessage `json:"value,omitempty"`
	}
	failure struct {
		Key          string         `json:"key,omitempty"`
		ErrorCode    string         `json:"errorCode"`
		ErrorDetails string         `json:"errorDetails,omitempty"`
		Metadata     map[string]any `json:"metadata,omitempty"`
	}
	generalError struct {
		ErrorDetails string `json:"errorDetails"`
	}
	bulkResponse struct {
		Flags    []any          `json:"flags"`
		Metadata map[string]any `json:"metadata"`
	}
)

// body is the JSON form of e: a success or a failure.
func (e *Evaluation) body() any {
	if e.Failed() {
		return failure{Key: e.Key, ErrorCode: e.ErrorCode, ErrorDetails: e.ErrorDetails, Metadata: e.Metadata}
	}
	return success{Key: e.Key, Reason: e.Reason, Variant: e.Variant, Metadata: e.Metadata, Value: e.raw}
}

// single serves POST /ofrep/v1/evaluate/flags/{key}.
func (h *Handler) single(w http.ResponseWriter, r *http.Request, key string) {
	env, status, err := h.environment(w, r)
	if err != nil {
		writeJSON(w, status, failure{Key: key, ErrorCode: codeOf(err), ErrorDetails: err.Error()})
		return
	}
	var e *Evaluation
	if flagcache.ID(key).Validate() != nil {
		e = Evaluate(key, nil, env, false)
		e.ErrorDetails = fmt.Sprintf("flag %q does not exist: it is not a valid flag id", clip([]byte(key)))
	} else {
		s, stale, err := h.read(r.Context(), flagcache.ID(key))
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		if s != nil && !stale {
			if status, body := h.encoded(key, s, env); body != nil {
				w.Header().Set("Cache-Control", "no-store")
				writeBody(w, status, body)
				return
			}
		}
		e = Evaluate(key, s, env, stale)
	}
	status = singleStatus(e)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, e.body())
}

// singleStatus is the status of a single evaluation's answer.
func singleStatus(e *Evaluation) int {
	switch e.ErrorCode {
	case "":
		return http.StatusOK
	case CodeFlagNotFound:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

type memoKey struct{ id, env string }

// memoBody is the encoded answer for one cached copy of a flag.
type memoBody struct {
	stored *flagcache.Stored
	status int
	body   []byte
}

// encoded returns the encoded answer for s in env, computed once per
// copy: a tiered store hands out the same *Stored until the flag changes.
func (h *Handler) encoded(key string, s *flagcache.Stored, env string) (int, []byte) {
	k := memoKey{key, env}
	if v, ok := h.memo.Load(k); ok {
		if m := v.(*memoBody); m.stored == s {
			return m.status, m.body
		}
	}
	e := Evaluate(key, s, env, false)
	body, err := json.Marshal(e.body())
	if err != nil {
		return 0, nil
	}
	m := &memoBody{stored: s, status: singleStatus(e), body: body}
	h.memo.Store(k, m)
	return m.status, m.body
}

// read returns the flag (nil when missing) and whether a cache served it
// while the source was down.
func (h *Handler) read(ctx context.Context, id flagcache.ID) (*flagcache.Stored, bool, error) {
	var hit flagcache.Hit
	var err error
	if h.hits != nil {
		hit, err = h.hits.GetHit(ctx, id)
	} else {
		hit.Stored, err = h.store.Get(ctx, id)
	}
	if errors.Is(err, flagcache.ErrNotFound) || (err == nil && hit.Stored == nil) {
		return nil, false, nil
	}
	return hit.Stored, hit.Stale, err
}

// bulk serves POST /ofrep/v1/evaluate/flags: every flag that defines the
// environment and is not archived. The ETag names the revision and the
// environment; the revision is read before the flags, so the ETag never
// names a revision newer than the answer (at worst a client re-fetches an
// answer it had).
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	env, status, err := h.environment(w, r)
	if err != nil {
		writeJSON(w, status, failure{ErrorCode: codeOf(err), ErrorDetails: err.Error()})
		return
	}
	feed, err := h.store.Changes(r.Context(), 0, 1)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	etag := BulkETag(feed.Revision, env)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if noneMatch(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	flags, err := h.store.List(r.Context(), flagcache.Query{Environment: env})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	res := bulkResponse{Flags: make([]any, 0, len(flags)),
		Metadata: map[string]any{"environment": env, "revision": feed.Revision}}
	for _, s := range flags {
		if s == nil || s.Definition == nil {
			continue
		}
		res.Flags = append(res.Flags, Evaluate(string(s.Definition.ID), s, env, false).body())
	}
	writeJSON(w, http.StatusOK, res)
}

// BulkETag is the ETag of a bulk evaluation at revision in env.
func BulkETag(revision int64, env string) string {
	return `"r` + strconv.FormatInt(revision, 10) + "." + env + `"`
}

// noneMatch reports whether If-None-Match names etag (weak comparison, as
// RFC 9110 asks for If-None-Match) or is "*".
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == etag {
				return true
			}
		}
	}
	return false
}

// contextError is a request the endpoints cannot evaluate.
type contextError struct {
	code, msg string
}

func (e *contextError) Error() string { return e.msg }

// codeOf returns the OFREP error code of a request error.
func codeOf(err error) string {
	var ce *contextError
	if errors.As(err, &ce) {
		return ce.code
	}
	return CodeGeneral
}

// environment decodes the request body and returns the environment to
// evaluate in: the context's, else the token's, else the default.
func (h *Handler) environment(w http.ResponseWriter, r *http.Request) (string, int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return "", http.StatusUnsupportedMediaType, &contextError{CodeParseError, "the body must be application/json, got " + strconv.Quote(clip([]byte(ct)))}
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var (
			tooLarge *http.MaxBytesError
			netErr   net.Error
		)
		if errors.As(err, &tooLarge) {
			return "", http.StatusRequestEntityTooLarge, &contextError{CodeParseError, fmt.Sprintf("the body is over %d bytes", tooLarge.Limit)}
		}
		if errors.As(err, &netErr) && netErr.Timeout() {
			// The server's ReadTimeout passed: the client is still there.
			return "", http.StatusRequestTimeout, &contextError{CodeParseError, "the body did not arrive in time"}
		}
		return "", http.StatusBadRequest, &contextError{CodeParseError, "could not read the body: " + err.Error()}
	}
	evalCtx, err := parseContext(data)
	if err != nil {
		return "", http.StatusBadRequest, err
	}
	if raw, ok := evalCtx[ContextEnvironment]; ok {
		var env string
		if json.Unmarshal(raw, &env) != nil || !flagcache.ValidEnvironment(env) {
			return "", http.StatusBadRequest, &contextError{CodeInvalidContext,
				fmt.Sprintf("context.environment %s is not an environment name ([a-z0-9][a-z0-9_-]{0,63})", clip(raw))}
		}
		return env, 0, nil
	}
	if env := h.tokenEnvironment(r); env != "" {
		return env, 0, nil
	}
	if h.opts.DefaultEnvironment != "" {
		return h.opts.DefaultEnvironment, 0, nil
	}
	return "", http.StatusBadRequest, &contextError{CodeInvalidContext,
		"no environment: set the context attribute \"environment\", bind the token to one, or set ofrep.default_environment"}
}

// parseContext decodes {"context": {...}} and returns the context's
// attributes. A targetingKey, when present, must be a string; flagcache
// does not need one (it does not target).
func parseContext(data []byte) (map[string]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, &contextError{CodeParseError, `the body must be a JSON object: {"context": {...}}`}
	}
	var req struct {
		Context json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, &contextError{CodeParseError, "the body is not valid JSON: " + err.Error()}
	}
	c := bytes.TrimSpace(req.Context)
	if len(c) == 0 || c[0] != '{' {
		return nil, &contextError{CodeInvalidContext, `the body needs a "context" object`}
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(c, &attrs); err != nil {
		return nil, &contextError{CodeInvalidContext, "the context is not an object: " + err.Error()}
	}
	if raw, ok := attrs["targetingKey"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, &contextError{CodeInvalidContext, "context.targetingKey must be a string"}
		}
	}
	return attrs, nil
}

// tokenEnvironment returns the environment of the request's token
// (Authorization: Bearer, else X-API-Key), comparing every bound token in
// constant time.
func (h *Handler) tokenEnvironment(r *http.Request) string {
	if len(h.tokens) == 0 {
		return ""
	}
	secret := apiKey(r)
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	found := -1
	for i, t := range h.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return ""
	}
	return h.tokens[found].env
}

// apiKey returns the token of a request: its bearer token, else its
// X-API-Key (OFREP's two security schemes).
func apiKey(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		if token = strings.TrimSpace(token); token != "" {
			return token
		}
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// storeError answers a failed store read: 503 when the store cannot be
// reached, 500 otherwise (logged; the caller sees no detail).
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, flagcache.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, generalError{"the flag store is unavailable"})
	case r.Context().Err() != nil:
		writeJSON(w, http.StatusServiceUnavailable, generalError{"the request ended: " + r.Context().Err().Error()})
	default:
		h.opts.Logger.Error("ofrep: store read failed", slog.String("error", err.Error()))
		writeJSON(w, http.StatusInternalServerError, generalError{"internal error"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"errorDetails":"response encoding failed"}`)
	}
	writeBody(w, status, body)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
