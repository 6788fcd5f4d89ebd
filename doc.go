// Package flagcache is the domain of the flagcache daemon: flag definitions,
// their stored form, queries, the change feed, the errors every store
// returns, and the Store interface that every backend (memstore, boltsource,
// pgsource, rediskv), the tiered cache and the HTTP client implement.
//
// It imports only the standard library. The conformance suite that pins the
// Store contract down is package storetest.
package flagcache
