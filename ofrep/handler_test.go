package ofrep_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/ofreptest"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/ofrep"
)

// serve mounts the OFREP handler over a seeded memstore the way the daemon
// does, behind httpapi's auth.
func serve(t *testing.T, opts ofrep.Options) (ofreptest.Target, flagcache.Store) {
	t.Helper()
	store := memstore.New(memstore.Options{})
	if err := ofreptest.Seed(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewHandler(store, httpapi.Options{Tokens: []httpapi.Token{
		{Secret: "read-token", Scope: httpapi.ScopeRead}, {Secret: "bound-token", Scope: httpapi.ScopeRead}}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ofrep.NewHandler(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	api.MountOFREP(h)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	write := func(t *testing.T) {
		def, _ := flagcache.NewBoolean("touched", "Touched", true)
		if _, err := store.Create(context.Background(), def); err != nil {
			t.Fatal(err)
		}
	}
	return ofreptest.Target{Base: srv.URL, Token: "read-token", BoundToken: "bound-token", Client: srv.Client(), Write: write}, store
}

func TestHTTP(t *testing.T) {
	tg, _ := serve(t, ofrep.Options{DefaultEnvironment: "staging",
		Tokens: []ofrep.Token{{Secret: "bound-token", Environment: "production"}}})
	ofreptest.RunHTTP(t, tg)
}

func TestNoEnvironment(t *testing.T) {
	tg, _ := serve(t, ofrep.Options{})
	r, a := tg.Eval(t, "on-bool", tg.Token, `{}`)
	if r.Status != 400 || a.ErrorCode != ofrep.CodeInvalidContext {
		t.Errorf("no environment anywhere: got %d %q, want 400 INVALID_CONTEXT", r.Status, a.ErrorCode)
	}
}

func TestNewHandlerRefuses(t *testing.T) {
	store := memstore.New(memstore.Options{})
	for name, opts := range map[string]ofrep.Options{
		"bad default":       {DefaultEnvironment: "Prod"},
		"empty secret":      {Tokens: []ofrep.Token{{Environment: "production"}}},
		"bad token env":     {Tokens: []ofrep.Token{{Secret: "s", Environment: "a b"}}},
		"token without env": {Tokens: []ofrep.Token{{Secret: "s"}}},
	} {
		if _, err := ofrep.NewHandler(store, opts); err == nil {
			t.Errorf("%s: NewHandler accepted %+v", name, opts)
		}
	}
}

func TestStaleMetadata(t *testing.T) {
	store := memstore.New(memstore.Options{})
	if err := ofreptest.Seed(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	s, err := store.Get(context.Background(), "on-bool")
	if err != nil {
		t.Fatal(err)
	}
	e := ofrep.Evaluate("on-bool", s, ofreptest.Env, true)
	if e.Reason != ofrep.ReasonStatic || e.Metadata["stale"] != true {
		t.Errorf("stale read: got reason %q metadata %v, want STATIC and stale true", e.Reason, e.Metadata)
	}
	if e := ofrep.Evaluate("on-bool", s, ofreptest.Env, false); e.Metadata["stale"] != nil {
		t.Errorf("fresh read: metadata %v has stale", e.Metadata)
	}
}
