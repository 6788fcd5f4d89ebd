package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
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

// Token is a bearer token, its scope and its name, which the history
// records as the actor of the token's writes (default "token-N", N its
// 1-based position). It formats and logs without its secret.
type Token struct {
	Secret string
	Scope  Scope
	Name   string
}

func (t Token) String() string { return t.Scope.String() + " token [redacted]" }

// LogValue implements slog.LogValuer.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// authenticator holds the SHA-256 of each token: comparing fixed-size
// digests in constant time leaks neither a token's bytes nor its length.
type authenticator struct {
	tokens []hashedToken
	hosts  []string // without tokens: Host names served beside loopback ones
	// served is the last Host value let through without tokens: a client
	// sends the same one on every request, and parsing it (an IP address
	// allocates) each time bought nothing. Only a Host that passed is kept.
	served *atomic.Pointer[string]
}

type hashedToken struct {
	sum   [sha256.Size]byte
	scope Scope
	name  string
}

func newAuthenticator(tokens []Token, hosts []string) (authenticator, error) {
	a := authenticator{hosts: hosts, served: new(atomic.Pointer[string])}
	for i, t := range tokens {
		if t.Secret == "" {
			return a, fmt.Errorf("httpapi: token %d has an empty secret", i)
		}
		if t.Scope != ScopeRead && t.Scope != ScopeWrite {
			return a, fmt.Errorf("httpapi: token %d has no scope (read or write)", i)
		}
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("token-%d", i+1)
		}
		if err := flagcache.ValidateActor(name); err != nil {
			return a, fmt.Errorf("httpapi: token %d: name: %w", i, err)
		}
		a.tokens = append(a.tokens, hashedToken{sha256.Sum256([]byte(t.Secret)), t.Scope, name})
	}
	return a, nil
}

// check lets r through when it carries a token of scope need or stronger,
// and returns the index of the strongest token that matched (-1 without
// tokens). Every configured token is compared, match or not, so the time
// taken does not say which one matched.
//
// Without tokens only requests to a loopback Host (localhost, *.localhost,
// 127.0.0.0/8, ::1) or one of Options.AllowedHosts are served (403
// otherwise): a page the
// developer opens could otherwise point its own name at 127.0.0.1 (DNS
// rebinding) and read and write every flag.
func (a authenticator) check(w http.ResponseWriter, r *http.Request, need Scope) (int, error) {
	if need == scopeNone {
		return -1, nil
	}
	if len(a.tokens) == 0 {
		if !a.servedHost(r.Host) {
			return -1, &apiError{wire.CodePermissionDenied,
				"without tokens only loopback Host values (localhost, 127.0.0.1, [::1]) are served; configure tokens to serve other names"}
		}
		return -1, nil
	}
	secret, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flagcache"`)
		return -1, &apiError{wire.CodeUnauthenticated, "missing bearer token: send Authorization: Bearer TOKEN"}
	}
	sum := sha256.Sum256([]byte(secret))
	got, index := scopeNone, -1
	for i, t := range a.tokens {
		match := subtle.ConstantTimeCompare(sum[:], t.sum[:])
		better := match & subtle.ConstantTimeLessOrEq(int(got)+1, int(t.scope))
		got = Scope(subtle.ConstantTimeSelect(better, int(t.scope), int(got)))
		index = subtle.ConstantTimeSelect(better, i, index)
	}
	switch {
	case got == scopeNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="flagcache", error="invalid_token"`)
		return -1, &apiError{wire.CodeUnauthenticated, "the bearer token is not valid"}
	case got < need:
		w.Header().Set("WWW-Authenticate", `Bearer realm="flagcache", error="insufficient_scope"`)
		return -1, &apiError{wire.CodePermissionDenied, "this token has scope " + got.String() + "; " + r.Method + " needs scope " + need.String()}
	}
	return index, nil
}

// servedHost reports whether a request to host is served without tokens.
func (a authenticator) servedHost(host string) bool {
	if last := a.served.Load(); last != nil && *last == host {
		return true
	}
	if !localHost(host) && !slices.Contains(a.hosts, hostname(host)) {
		return false
	}
	served := host // only this path allocates
	a.served.Store(&served)
	return true
}

// hostname is the name of a Host header without its port, lower case.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "."))
}

// localHost reports whether a Host header names this machine's loopback
// interface.
func localHost(host string) bool {
	name := hostname(host)
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
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
