package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Scope is what a token may do. A write token may also read.
type Scope int

// The scopes, weakest first. scopeNone marks routes that need no token.
const (
	scopeNone Scope = iota
	ScopeRead
	ScopeWrite
)

// ParseScope parses "read" or "write".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "read":
		return ScopeRead, nil
	case "write":
		return ScopeWrite, nil
	}
	return scopeNone, fmt.Errorf("scope %q is not read or write", s)
}

func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeWrite:
		return "write"
	}
	return "none"
}

// Token is a bearer token and its scope. It formats and logs without its
// secret.
type Token struct {
	Secret string
	Scope  Scope
}

func (t Token) String() string { return t.Scope.String() + " token [redacted]" }

// LogValue implements slog.LogValuer.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// authenticator holds the SHA-256 of each token: comparing fixed-size
// digests in constant time leaks neither a token's bytes nor its length.
type authenticator struct {
	tokens []hashedToken
}

type hashedToken struct {
	sum   [sha256.Size]byte
	scope Scope
}

func newAuthenticator(tokens []Token) (authenticator, error) {
	var a authenticator
	for i, t := range tokens {
		if t.Secret == "" {
			return a, fmt.Errorf("httpapi: token %d has an empty secret", i)
		}
		if t.Scope != ScopeRead && t.Scope != ScopeWrite {
			return a, fmt.Errorf("httpapi: token %d has no scope (read or write)", i)
		}
		a.tokens = append(a.tokens, hashedToken{sha256.Sum256([]byte(t.Secret)), t.Scope})
	}
	return a, nil
}

// check lets r through when it carries a token of scope need or stronger.
// Every configured token is compared, match or not, so the time taken does
// not say which one matched.
func (a authenticator) check(w http.ResponseWriter, r *http.Request, need Scope) error {
	if need == scopeNone || len(a.tokens) == 0 {
		return nil
	}
	secret, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flagcache"`)
		return &apiError{http.StatusUnauthorized, "unauthenticated", "missing bearer token: send Authorization: Bearer TOKEN"}
	}
	sum := sha256.Sum256([]byte(secret))
	got := scopeNone
	for _, t := range a.tokens {
		match := subtle.ConstantTimeCompare(sum[:], t.sum[:])
		got = max(got, Scope(subtle.ConstantTimeSelect(match, int(t.scope), int(scopeNone))))
	}
	switch {
	case got == scopeNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="flagcache", error="invalid_token"`)
		return &apiError{http.StatusUnauthorized, "unauthenticated", "the bearer token is not valid"}
	case got < need:
		w.Header().Set("WWW-Authenticate", `Bearer realm="flagcache", error="insufficient_scope"`)
		return &apiError{http.StatusForbidden, "permission_denied", "this token has scope " + got.String() + "; " + r.Method + " needs scope " + need.String()}
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header; the
// scheme is case-insensitive (RFC 9110).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
