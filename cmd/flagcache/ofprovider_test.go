package main

import (
	"context"
	"errors"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/ofprovider"
)

// sdk is an isolated OpenFeature API with the flagcache provider over a
// local-cache client of d, and the provider events it heard.
type sdk struct {
	api    *openfeature.EvaluationAPI
	of     *openfeature.Client
	cache  *client.Client
	mu     sync.Mutex
	events []openfeature.EventDetails
	kinds  []openfeature.EventType
	heard  chan struct{}
}

func startSDK(t *testing.T, base, token string) *sdk {
	t.Helper()
	c := newClient(t, base, client.WithToken(token), client.WithLocalCache(100),
		client.WithBackoff(10*time.Millisecond, 100*time.Millisecond), client.WithRetries(0))
	p, err := ofprovider.New(c, ofprovider.Options{Environment: "production", StatePoll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &sdk{api: isolated.NewAPI(), cache: c, heard: make(chan struct{}, 100)}
	for _, kind := range []openfeature.EventType{openfeature.ProviderConfigChange, openfeature.ProviderStale, openfeature.ProviderError, openfeature.ProviderReady} {
		cb := func(d openfeature.EventDetails) {
			s.mu.Lock()
			s.events, s.kinds = append(s.events, d), append(s.kinds, kind)
			s.mu.Unlock()
			s.heard <- struct{}{}
		}
		s.api.AddHandler(kind, &cb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Cleanup(func() { s.api.Shutdown(context.Background()) })
	if err := s.api.SetProviderAndWait(ctx, p); err != nil {
		t.Fatalf("SetProviderAndWait: %v", err)
	}
	s.of = s.api.NewClient()
	return s
}

// waitEvent waits for an event of kind that satisfies ok.
func (s *sdk) waitEvent(t *testing.T, kind openfeature.EventType, ok func(openfeature.EventDetails) bool) openfeature.EventDetails {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for seen := 0; ; {
		s.mu.Lock()
		for ; seen < len(s.events); seen++ {
			if s.kinds[seen] == kind && ok(s.events[seen]) {
				d := s.events[seen]
				s.mu.Unlock()
				return d
			}
		}
		s.mu.Unlock()
		select {
		case <-s.heard:
		case <-timeout:
			t.Fatalf("no %s event within 15s; heard %v", kind, s.kinds)
		}
	}
}

var ctxProduction = openfeature.NewTargetlessEvaluationContext(nil)

// runProvider evaluates every row of the mapping through the SDK's client.
func runProvider(t *testing.T, s *sdk) {
	ctx := context.Background()
	type row struct {
		name    string
		eval    func() (any, openfeature.EvaluationDetails, error)
		value   any
		reason  openfeature.Reason
		code    openfeature.ErrorCode
		variant string
	}
	boolean := func(key string, evalCtx openfeature.EvaluationContext) func() (any, openfeature.EvaluationDetails, error) {
		return func() (any, openfeature.EvaluationDetails, error) {
			d, err := s.of.BooleanValueDetails(ctx, key, false, evalCtx)
			return d.Value, d.EvaluationDetails, err
		}
	}
	integer := func(key string) func() (any, openfeature.EvaluationDetails, error) {
		return func() (any, openfeature.EvaluationDetails, error) {
			d, err := s.of.IntValueDetails(ctx, key, -1, ctxProduction)
			return d.Value, d.EvaluationDetails, err
		}
	}
	float := func(key string) func() (any, openfeature.EvaluationDetails, error) {
		return func() (any, openfeature.EvaluationDetails, error) {
			d, err := s.of.FloatValueDetails(ctx, key, -1, ctxProduction)
			return d.Value, d.EvaluationDetails, err
		}
	}
	str := func(key string) func() (any, openfeature.EvaluationDetails, error) {
		return func() (any, openfeature.EvaluationDetails, error) {
			d, err := s.of.StringValueDetails(ctx, key, "code-default", ctxProduction)
			return d.Value, d.EvaluationDetails, err
		}
	}
	object := func(key string) func() (any, openfeature.EvaluationDetails, error) {
		return func() (any, openfeature.EvaluationDetails, error) {
			d, err := s.of.ObjectValueDetails(ctx, key, "code-default", ctxProduction)
			return d.Value, d.EvaluationDetails, err
		}
	}
	staging := openfeature.NewTargetlessEvaluationContext(map[string]any{"environment": "staging"})
	badEnv := openfeature.NewTargetlessEvaluationContext(map[string]any{"environment": "Not An Env"})
	rows := []row{
		{"enabled", boolean("on-bool", ctxProduction), true, openfeature.StaticReason, "", "on"},
		{"disabled", boolean("off-bool", ctxProduction), false, openfeature.DisabledReason, "", ""},
		{"missing", boolean("missing", ctxProduction), false, openfeature.ErrorReason, openfeature.FlagNotFoundCode, ""},
		{"deleted", boolean("deleted", ctxProduction), false, openfeature.ErrorReason, openfeature.FlagNotFoundCode, ""},
		{"archived", boolean("archived", ctxProduction), false, openfeature.ErrorReason, openfeature.FlagNotFoundCode, ""},
		{"no such environment", boolean("staging-only", ctxProduction), false, openfeature.ErrorReason, openfeature.FlagNotFoundCode, ""},
		{"not a flag id", boolean("not a flag id", ctxProduction), false, openfeature.ErrorReason, openfeature.FlagNotFoundCode, ""},
		{"context environment", boolean("on-bool", staging), false, openfeature.DisabledReason, "", ""},
		{"context environment defines it", boolean("staging-only", staging), true, openfeature.StaticReason, "", ""},
		{"bad context environment", boolean("on-bool", badEnv), false, openfeature.ErrorReason, openfeature.InvalidContextCode, ""},
		{"rules", boolean("rules", ctxProduction), false, openfeature.ErrorReason, openfeature.GeneralCode, ""},
		{"type mismatch", boolean("string-flag", ctxProduction), false, openfeature.ErrorReason, openfeature.TypeMismatchCode, ""},
		{"string", str("string-flag"), "blue", openfeature.StaticReason, "", ""},
		{"integral number as int", integer("int-number"), int64(3), openfeature.StaticReason, "", ""},
		{"integral number as float", float("int-number"), 3.0, openfeature.StaticReason, "", ""},
		{"float number as int", integer("float-number"), int64(-1), openfeature.ErrorReason, openfeature.TypeMismatchCode, ""},
		{"float number", float("float-number"), 2.5, openfeature.StaticReason, "", ""},
		{"object", object("obj-json"), map[string]any{"color": "blue", "size": 2.0}, openfeature.StaticReason, "", "blue"},
		{"json not an object", object("list-json"), "code-default", openfeature.ErrorReason, openfeature.TypeMismatchCode, ""},
		{"object of a boolean", object("on-bool"), "code-default", openfeature.ErrorReason, openfeature.TypeMismatchCode, ""},
	}
	for _, r := range rows {
		for range 2 { // the second answer comes from memory
			v, d, err := r.eval()
			if !reflect.DeepEqual(v, r.value) || d.Reason != r.reason || d.ErrorCode != r.code || d.Variant != r.variant {
				t.Errorf("%s: got %#v reason %q code %q variant %q (%s), want %#v %q %q %q",
					r.name, v, d.Reason, d.ErrorCode, d.Variant, d.ErrorMessage, r.value, r.reason, r.code, r.variant)
			}
			if (err != nil) != (r.code != "") {
				t.Errorf("%s: error %v, want one only with code %q", r.name, err, r.code)
			}
		}
	}
	d, _ := s.of.BooleanValueDetails(ctx, "on-bool", false, ctxProduction)
	md := d.FlagMetadata
	if md["owner"] != "team-a" || md["status"] != "active" || md["environment"] != "production" || md["version"] == nil || md["revision"] == nil {
		t.Errorf("on-bool metadata %v, want owner, status, environment, version and revision", md)
	}
	if st := s.cache.Stats(); st.Hits == 0 {
		t.Errorf("client stats %+v: no evaluation was answered by the local cache", st)
	}
}

// runChange: a write gives CONFIGURATION_CHANGED naming the flag, after
// which the provider serves the new definition.
func runChange(t *testing.T, s *sdk, writer *client.Client) {
	ctx := context.Background()
	cur, err := writer.Get(ctx, "on-bool")
	if err != nil {
		t.Fatal(err)
	}
	def := cur.Definition.Clone()
	def.Environments["production"] = flagcache.Environment{Enabled: false}
	if _, err := writer.Update(ctx, def, cur.Version); err != nil {
		t.Fatal(err)
	}
	s.waitEvent(t, openfeature.ProviderConfigChange, func(d openfeature.EventDetails) bool {
		return slices.Contains(d.FlagChanges, "on-bool")
	})
	if d, _ := s.of.BooleanValueDetails(ctx, "on-bool", false, ctxProduction); d.Reason != openfeature.DisabledReason {
		t.Errorf("after the change event: got reason %q, want DISABLED", d.Reason)
	}
}

// runStale stops the daemon: the provider says STALE and serves its
// cached copies with reason STALE.
func runStale(t *testing.T, s *sdk, d *testDaemon) {
	ctx := context.Background()
	if v, err := s.of.StringValue(ctx, "string-flag", "", ctxProduction); v != "blue" || err != nil {
		t.Fatalf("before: got %q %v", v, err)
	}
	d.stop()
	s.waitEvent(t, openfeature.ProviderStale, func(openfeature.EventDetails) bool { return true })
	got, err := s.of.StringValueDetails(ctx, "string-flag", "", ctxProduction)
	if got.Value != "blue" || got.Reason != ofprovider.StaleReason || err != nil {
		t.Errorf("daemon down: got %q reason %q err %v, want blue STALE", got.Value, got.Reason, err)
	}
	if got.FlagMetadata["stale"] != true {
		t.Errorf("daemon down: metadata %v, want stale true", got.FlagMetadata)
	}
}

func testOpenFeature(t *testing.T, env map[string]string) {
	d, _ := startOFREP(t, env)
	s := startSDK(t, d.base, "read-token-0123456789")
	runProvider(t, s)
	runChange(t, s, newClient(t, d.base, client.WithToken("write-token-0123456789")))
	runStale(t, s, d)
}

// TestOpenFeature runs the mapping through the OpenFeature SDK's client
// with the flagcache provider, against the daemon on the embedded source.
func TestOpenFeature(t *testing.T) { testOpenFeature(t, nil) }

// TestOpenFeaturePostgres is the same on Postgres with the Redis tier.
func TestOpenFeaturePostgres(t *testing.T) { testOpenFeature(t, redisEnv(t, postgresEnv(t))) }

// TestOpenFeatureRefused: a token the daemon refuses makes the provider
// fail to initialise, and evaluations answer the code default.
func TestOpenFeatureRefused(t *testing.T) {
	d, _ := startOFREP(t, nil)
	c := newClient(t, d.base, client.WithToken("wrong"), client.WithLocalCache(10))
	p, err := ofprovider.New(c, ofprovider.Options{Environment: "production"})
	if err != nil {
		t.Fatal(err)
	}
	api := isolated.NewAPI()
	t.Cleanup(func() { api.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = api.SetProviderAndWait(ctx, p)
	var initErr *openfeature.ProviderInitError
	if !errors.As(err, &initErr) {
		t.Fatalf("SetProviderAndWait with a refused token: got %v, want a ProviderInitError", err)
	}
	if v, err := api.NewClient().BooleanValue(ctx, "on-bool", false, ctxProduction); v || err == nil {
		t.Errorf("evaluation on a provider that failed: got %v %v, want the code default and an error", v, err)
	}
}

// TestOpenFeatureEvents: the daemon goes away (PROVIDER_STALE), comes back
// refusing the provider's token (PROVIDER_ERROR), then accepting it again
// (PROVIDER_READY), all on one address.
func TestOpenFeatureEvents(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := writeFile(t, t.TempDir(), "flagcache.toml", ofrepConfig)
	other := writeFile(t, t.TempDir(), "other.toml", "[[auth.tokens]]\nscope = \"read\"\nvalue = \"another-token-0123\"\n")

	first := startServe(t, nil, "--config", cfg, "--listen", addr)
	s := startSDK(t, first.base, "read-token-0123456789")
	first.stop()
	s.waitEvent(t, openfeature.ProviderStale, func(openfeature.EventDetails) bool { return true })

	refusing := startServe(t, nil, "--config", other, "--listen", addr)
	s.waitEvent(t, openfeature.ProviderError, func(d openfeature.EventDetails) bool {
		// The SDK (v1.20.0) does not hand the event's ErrorCode to handlers.
		return strings.Contains(d.Message, "401")
	})
	refusing.stop()

	startServe(t, nil, "--config", cfg, "--listen", addr)
	s.waitEvent(t, openfeature.ProviderReady, func(d openfeature.EventDetails) bool { return d.Message == "the watch stream is back" })
	if st := s.api.NewClient().State(); st != openfeature.ReadyState {
		t.Errorf("client state %s after the stream is back, want READY", st)
	}
}
