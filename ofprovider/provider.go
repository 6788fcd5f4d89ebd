package ofprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/ofrep"
)

// Defaults of Options.
const (
	DefaultStatePoll    = 100 * time.Millisecond
	DefaultReadyTimeout = 10 * time.Second
	// applyWait bounds how long a change event waits for the client's
	// local cache to apply the same revision before it is emitted.
	applyWait = 2 * time.Second
)

// StaleReason is the reason of a value served from a copy that may be
// behind the source (OpenFeature's STALE).
const StaleReason openfeature.Reason = "STALE"

// Options configure a Provider.
type Options struct {
	// Environment is evaluated in when the evaluation context has no
	// "environment" attribute. Empty: such an evaluation fails with
	// INVALID_CONTEXT.
	Environment string
	// StatePoll is how often the provider looks at the client's watch
	// stream to report STALE, ERROR and READY. Default 100ms.
	StatePoll time.Duration
	// ReadyTimeout bounds how long Init waits for the client's local cache
	// to connect its watch stream. Default 10s.
	ReadyTimeout time.Duration
}

// Provider is an OpenFeature provider over a flagcache client. Build the
// client with client.WithLocalCache so evaluations are answered from
// memory; the provider does not close the client.
type Provider struct {
	c    *client.Client
	opts Options

	events chan openfeature.Event
	memo   sync.Map // flagcache.ID → *memoEntry: evaluations of cached copies

	mu     sync.Mutex // guards cancel and wg across Init and Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.StateHandler             = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
	_ openfeature.EventHandler             = (*Provider)(nil)
)

// New returns a provider over c. It fails on an invalid environment name.
func New(c *client.Client, opts Options) (*Provider, error) {
	if c == nil {
		return nil, errors.New("ofprovider: nil client")
	}
	if opts.Environment != "" && !flagcache.ValidEnvironment(opts.Environment) {
		return nil, fmt.Errorf("ofprovider: environment %q is not an environment name", opts.Environment)
	}
	if opts.StatePoll <= 0 {
		opts.StatePoll = DefaultStatePoll
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	return &Provider{c: c, opts: opts, events: make(chan openfeature.Event, 64)}, nil
}

// Metadata implements openfeature.FeatureProvider.
func (p *Provider) Metadata() openfeature.Metadata { return openfeature.Metadata{Name: "flagcache"} }

// Hooks implements openfeature.FeatureProvider.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// EventChannel implements openfeature.EventHandler.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

// Init implements openfeature.StateHandler.
func (p *Provider) Init(evalCtx openfeature.EvaluationContext) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.ReadyTimeout)
	defer cancel()
	return p.InitWithContext(ctx, evalCtx)
}

// InitWithContext waits until the client's local cache has its watch
// stream open (ready to answer from memory), then follows the change
// feed for CONFIGURATION_CHANGED and the stream's state for STALE, ERROR
// and READY. It fails when ctx ends first, or at once when the daemon
// refuses the client's token.
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	if err := p.waitConnected(ctx); err != nil {
		return err
	}
	// The watch outlives Init; Init's ctx bounds only its first connection.
	run, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	watch, err := p.c.Watch(run, client.FromNow)
	if !stop() {
		cancel()
		return fmt.Errorf("ofprovider: watching changes: %w", ctx.Err())
	}
	if err != nil {
		cancel()
		return fmt.Errorf("ofprovider: watching changes: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		p.cancel() // a second Init replaces the first's goroutines
		p.wg.Wait()
	}
	p.cancel = cancel
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.followChanges(run, watch)
	}()
	go func() {
		defer p.wg.Done()
		p.followState(run)
	}()
	return nil
}

// Shutdown implements openfeature.StateHandler.
func (p *Provider) Shutdown() { p.ShutdownWithContext(context.Background()) }

// ShutdownWithContext stops the provider's goroutines. It does not close
// the client.
func (p *Provider) ShutdownWithContext(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	p.cancel = nil
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitConnected polls the client until its watch stream is open.
func (p *Provider) waitConnected(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st := p.c.Stats()
		if st.Connected {
			return nil
		}
		if refused(st.WatchError) {
			return &openfeature.ProviderInitError{ErrorCode: openfeature.ProviderFatalCode,
				Message: "the daemon refused the client: " + st.WatchError.Error()}
		}
		select {
		case <-ctx.Done():
			msg := "the client's watch stream did not connect"
			if st.WatchError != nil {
				msg += ": " + st.WatchError.Error()
			}
			if st == (client.Stats{}) {
				msg = "the client has no local cache (client.WithLocalCache)"
			}
			return errors.New("ofprovider: " + msg)
		case <-tick.C:
		}
	}
}

// refused reports a watch error that retrying will not cure.
func refused(err error) bool {
	var ce *client.Error
	return errors.As(err, &ce) && (ce.Status == 401 || ce.Status == 403)
}

// followChanges emits CONFIGURATION_CHANGED for each batch of change
// events, after the client's local cache has applied them, so a handler
// that evaluates at once reads the new values.
func (p *Provider) followChanges(ctx context.Context, watch <-chan client.Event) {
	for {
		var ev client.Event
		var ok bool
		select {
		case <-ctx.Done():
			return
		case ev, ok = <-watch:
			if !ok {
				return
			}
		}
		keys, last := []string{}, ev.Revision
		keys = appendChange(keys, ev)
	drain:
		for {
			select {
			case ev, ok = <-watch:
				if !ok {
					break drain
				}
				keys, last = appendChange(keys, ev), ev.Revision
			default:
				break drain
			}
		}
		p.waitApplied(ctx, last)
		p.emit(ctx, openfeature.ProviderConfigChange, openfeature.ProviderEventDetails{
			Message: "flags changed", FlagChanges: keys,
			EventMetadata: map[string]any{"revision": last}})
	}
}

func appendChange(keys []string, ev client.Event) []string {
	if ev.Op == client.OpResync || ev.ID == "" {
		return keys // every flag may have changed: no list
	}
	for _, k := range keys {
		if k == string(ev.ID) {
			return keys
		}
	}
	return append(keys, string(ev.ID))
}

// waitApplied waits (bounded) until the local cache has applied revision.
func (p *Provider) waitApplied(ctx context.Context, revision int64) {
	deadline := time.Now().Add(applyWait)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		st := p.c.Stats()
		if st.Revision >= revision || !st.Connected || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// followState reports the client's watch stream: STALE when it drops
// (the local cache can no longer be trusted), ERROR when the daemon
// refuses the client, READY when it is back.
func (p *Provider) followState(ctx context.Context) {
	tick := time.NewTicker(p.opts.StatePoll)
	defer tick.Stop()
	state := openfeature.ReadyState
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := p.c.Stats()
		next := openfeature.ReadyState
		switch {
		case st.Connected:
		case refused(st.WatchError):
			next = openfeature.ErrorState
		default:
			next = openfeature.StaleState
		}
		if next == state {
			continue
		}
		state = next
		details := openfeature.ProviderEventDetails{}
		if st.WatchError != nil {
			details.Message = st.WatchError.Error()
		}
		switch next {
		case openfeature.ReadyState:
			details.Message = "the watch stream is back"
			p.emit(ctx, openfeature.ProviderReady, details)
		case openfeature.StaleState:
			p.emit(ctx, openfeature.ProviderStale, details)
		case openfeature.ErrorState:
			details.ErrorCode = openfeature.GeneralCode
			p.emit(ctx, openfeature.ProviderError, details)
		}
	}
}

func (p *Provider) emit(ctx context.Context, t openfeature.EventType, d openfeature.ProviderEventDetails) {
	select {
	case p.events <- openfeature.Event{ProviderName: "flagcache", EventType: t, ProviderEventDetails: d}:
	case <-ctx.Done():
	}
}

// memoEntry holds the evaluations of one cached copy of a flag, one per
// environment asked for (an app uses few); a read that returns another
// copy (a newer version) replaces the entry. Entries are immutable.
type memoEntry struct {
	stored *flagcache.Stored
	envs   []memoEval
}

type memoEval struct {
	env  string
	eval *ofrep.Evaluation
	meta openfeature.FlagMetadata
}

// maxMemoEnvs bounds the environments memoized per flag.
const maxMemoEnvs = 8

// resolved is an evaluation ready for a typed answer.
type resolved struct {
	eval   *ofrep.Evaluation
	meta   openfeature.FlagMetadata
	reason openfeature.Reason
	err    *openfeature.ResolutionError
}

// resolve reads flag and evaluates it in the context's environment.
func (p *Provider) resolve(ctx context.Context, flag string, flatCtx openfeature.FlattenedContext) resolved {
	env := p.opts.Environment
	if v, ok := flatCtx[ofrep.ContextEnvironment]; ok {
		s, isString := v.(string)
		if !isString || (s != p.opts.Environment && !flagcache.ValidEnvironment(s)) {
			e := openfeature.NewInvalidContextResolutionError(fmt.Sprintf("the context attribute environment %v is not an environment name", v))
			return resolved{err: &e}
		}
		env = s
	}
	if env == "" {
		e := openfeature.NewInvalidContextResolutionError("no environment: set the context attribute \"environment\" or ofprovider.Options.Environment")
		return resolved{err: &e}
	}
	id := flagcache.ID(flag)
	hit, err := p.c.GetHit(ctx, id) // validates id first
	switch {
	case errors.Is(err, flagcache.ErrInvalidArgument):
		e := openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("flag %q does not exist: it is not a valid flag id", flag))
		return resolved{err: &e}
	case errors.Is(err, flagcache.ErrNotFound):
		hit = flagcache.Hit{}
	case err != nil:
		e := openfeature.NewGeneralResolutionError("reading the flag: " + err.Error())
		return resolved{err: &e}
	}
	var r resolved
	if hit.Stored != nil && !hit.Stale {
		r.eval, r.meta = p.memoized(id, env, hit.Stored)
	} else {
		r.eval = ofrep.Evaluate(flag, hit.Stored, env, hit.Stale)
		r.meta = openfeature.FlagMetadata(r.eval.Metadata)
	}
	if r.eval.Failed() {
		var e openfeature.ResolutionError
		switch r.eval.ErrorCode {
		case ofrep.CodeFlagNotFound:
			e = openfeature.NewFlagNotFoundResolutionError(r.eval.ErrorDetails)
		case ofrep.CodeParseError:
			e = openfeature.NewParseErrorResolutionError(r.eval.ErrorDetails)
		default:
			e = openfeature.NewGeneralResolutionError(r.eval.ErrorDetails)
		}
		r.err = &e
	}
	r.reason = openfeature.Reason(r.eval.Reason)
	if hit.Stale && r.eval.Reason == ofrep.ReasonStatic {
		r.reason = StaleReason
	}
	return r
}

func (p *Provider) memoized(id flagcache.ID, env string, s *flagcache.Stored) (*ofrep.Evaluation, openfeature.FlagMetadata) {
	var envs []memoEval
	if v, ok := p.memo.Load(id); ok {
		if m := v.(*memoEntry); m.stored == s {
			for i := range m.envs {
				if m.envs[i].env == env {
					return m.envs[i].eval, m.envs[i].meta
				}
			}
			envs = m.envs
		}
	}
	e := ofrep.Evaluate(string(id), s, env, false)
	me := memoEval{env: env, eval: e, meta: openfeature.FlagMetadata(e.Metadata)}
	if len(envs) < maxMemoEnvs {
		p.memo.Store(id, &memoEntry{stored: s, envs: append(envs[:len(envs):len(envs)], me)})
	}
	return me.eval, me.meta
}

// detail is the common part of a typed answer; ok is false when the
// answer is the code default (an error, or DISABLED).
func (r resolved) detail(want flagcache.Kind) (openfeature.ProviderResolutionDetail, bool) {
	d := openfeature.ProviderResolutionDetail{Reason: r.reason, FlagMetadata: r.meta}
	if r.eval != nil {
		d.Variant = r.eval.Variant
	}
	switch {
	case r.eval != nil && r.eval.Kind.Valid() && r.eval.Kind != want:
		d.ResolutionError = openfeature.NewTypeMismatchResolutionError(
			fmt.Sprintf("flag %q is of kind %q, not %s", r.eval.Key, r.eval.Kind, want))
	case r.eval != nil && want == flagcache.KindJSON && r.eval.ErrorCode == ofrep.CodeParseError:
		d.ResolutionError = openfeature.NewTypeMismatchResolutionError(r.eval.ErrorDetails)
	case r.err != nil:
		d.ResolutionError = *r.err
	case r.eval.Reason == ofrep.ReasonDisabled:
		return d, false
	default:
		return d, true
	}
	d.Reason, d.Variant = openfeature.ErrorReason, ""
	return d, false
}

// evaluate is the typed evaluations' common path: value converts a
// successful evaluation of the wanted kind, or says why it cannot.
func evaluate[T any](p *Provider, ctx context.Context, flag string, flatCtx openfeature.FlattenedContext,
	kind flagcache.Kind, defaultValue T, value func(*ofrep.Evaluation) (T, *openfeature.ResolutionError)) openfeature.GenericResolutionDetail[T] {
	r := p.resolve(ctx, flag, flatCtx)
	d, ok := r.detail(kind)
	out := openfeature.GenericResolutionDetail[T]{Value: defaultValue, ProviderResolutionDetail: d}
	if ok {
		v, err := value(r.eval)
		if err != nil {
			out.ResolutionError, out.Reason, out.Variant = *err, openfeature.ErrorReason, ""
			return out
		}
		out.Value = v
	}
	return out
}

// BooleanEvaluation implements openfeature.FeatureProvider.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, defaultValue bool, flatCtx openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	return evaluate(p, ctx, flag, flatCtx, flagcache.KindBoolean, defaultValue, func(e *ofrep.Evaluation) (bool, *openfeature.ResolutionError) {
		return e.Value.(bool), nil
	})
}

// StringEvaluation implements openfeature.FeatureProvider.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, defaultValue string, flatCtx openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	return evaluate(p, ctx, flag, flatCtx, flagcache.KindString, defaultValue, func(e *ofrep.Evaluation) (string, *openfeature.ResolutionError) {
		return e.Value.(string), nil
	})
}

// FloatEvaluation implements openfeature.FeatureProvider.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, defaultValue float64, flatCtx openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	return evaluate(p, ctx, flag, flatCtx, flagcache.KindNumber, defaultValue, func(e *ofrep.Evaluation) (float64, *openfeature.ResolutionError) {
		if n, ok := e.Value.(int64); ok {
			return float64(n), nil
		}
		return e.Value.(float64), nil
	})
}

// IntEvaluation implements openfeature.FeatureProvider. A number flag
// whose value is not integral (or beyond int64) is TYPE_MISMATCH.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, defaultValue int64, flatCtx openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	return evaluate(p, ctx, flag, flatCtx, flagcache.KindNumber, defaultValue, func(e *ofrep.Evaluation) (int64, *openfeature.ResolutionError) {
		n, ok := e.Value.(int64)
		if !ok {
			err := openfeature.NewTypeMismatchResolutionError(fmt.Sprintf("flag %q has the value %v, which is not an integer", flag, e.Value))
			return 0, &err
		}
		return n, nil
	})
}

// ObjectEvaluation implements openfeature.FeatureProvider: a json flag
// whose value is an object, as a fresh map[string]any the caller may
// modify. A json value that is not an object is TYPE_MISMATCH.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, defaultValue any, flatCtx openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	return evaluate(p, ctx, flag, flatCtx, flagcache.KindJSON, defaultValue, func(e *ofrep.Evaluation) (any, *openfeature.ResolutionError) {
		var m map[string]any
		if err := json.Unmarshal(e.JSON(), &m); err != nil {
			perr := openfeature.NewParseErrorResolutionError(err.Error())
			return nil, &perr
		}
		return m, nil
	})
}
