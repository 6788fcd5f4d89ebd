// Package wire is the contract of flagcache's HTTP API v1 in Go: the
// bodies of its responses, the headers it adds, its page limits and the
// table that ties each error code to its HTTP status and to the flagcache
// error it means. The server (package httpapi) and the Go client (package
// client) both derive from it, so they cannot drift apart; other Go
// callers of the API can use it too. It imports only the standard library
// and the domain package flagcache. docs/openapi.yaml is the same contract
// for everyone else.
//
// Standard headers keep their HTTP meaning, with flagcache's values: ETag
// is a flag's version as a strong entity tag ("v3", flagcache.ETag and
// flagcache.ParseETag); If-Match compares strongly and names one version
// or *; If-None-Match compares weakly; Last-Event-ID resumes a watch
// stream at a revision; Retry-After (seconds) comes with 503.
package wire
