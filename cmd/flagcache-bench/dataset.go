package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
)

// Dataset is the flags of a run: their ids, the definitions written, the
// last version seen of each, and (after fetch) the daemon's exact GET
// response body of each, which the baselines serve.
type Dataset struct {
	IDs      []flagcache.ID
	Defs     []*flagcache.Definition
	Bodies   [][]byte // the daemon's GET /v1/flags/{id} body; nil until fetched
	versions []atomic.Int64
	writes   atomic.Int64
}

// NewDataset returns n flags named prefix-000000… whose stored JSON (the
// API's GET body) is about size bytes.
func NewDataset(prefix string, n, size int) *Dataset {
	ds := &Dataset{
		IDs:      make([]flagcache.ID, n),
		Defs:     make([]*flagcache.Definition, n),
		versions: make([]atomic.Int64, n),
	}
	for i := range n {
		ds.IDs[i] = flagcache.ID(fmt.Sprintf("%s-%06d", prefix, i))
		ds.Defs[i] = makeDefinition(ds.IDs[i], i, size)
	}
	return ds
}

// storedOverhead is what a stored flag adds around its definition: the
// envelope, the version and revision, the ETag and the store's timestamps.
const storedOverhead = len(`{"definition":,"version":1,"etag":"\"v1\"","revision":123456}`) +
	len(`,"created_at":"2026-01-02T15:04:05.123456Z","updated_at":"2026-01-02T15:04:05.123456Z"`)

// makeDefinition returns a plausible flag (three environments, tags, an
// owner) padded with a description to about size bytes stored.
func makeDefinition(id flagcache.ID, i, size int) *flagcache.Definition {
	team := fmt.Sprintf("team-%02d", i%20)
	def := &flagcache.Definition{
		ID:           id,
		Name:         fmt.Sprintf("Bench flag %d", i),
		Kind:         flagcache.KindBoolean,
		DefaultValue: json.RawMessage("false"),
		Variations:   []flagcache.Variation{{Value: json.RawMessage("true")}, {Value: json.RawMessage("false")}},
		Environments: map[string]flagcache.Environment{
			"production":  {Enabled: i%2 == 0},
			"staging":     {Enabled: true},
			"development": {Enabled: true},
		},
		Status:   flagcache.StatusActive,
		Metadata: flagcache.Metadata{Tags: []string{"bench", team}, Owner: team},
	}
	b, _ := json.Marshal(def)
	if pad := size - len(b) - storedOverhead - len(`,"description":""`); pad > 0 {
		def.Description = filler(pad, i)
	}
	return def
}

// filler returns n bytes of words, different per flag.
func filler(n, seed int) string {
	words := []string{"rollout", "cohort", "checkout", "variant", "segment", "region", "beta", "canary", "percentage", "audience"}
	var b strings.Builder
	for k := seed; b.Len() < n; k++ {
		b.WriteString(words[k%len(words)])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}

// Len returns the number of flags.
func (ds *Dataset) Len() int { return len(ds.IDs) }

// Version returns the last version seen of flag i.
func (ds *Dataset) Version(i int) int64 { return ds.versions[i].Load() }

// SawVersion records that flag i has version v (the highest seen wins).
func (ds *Dataset) SawVersion(i int, v int64) {
	for {
		old := ds.versions[i].Load()
		if v <= old || ds.versions[i].CompareAndSwap(old, v) {
			return
		}
	}
}

// writeDef returns flag i's definition with a new description of the
// same length: what a write in the mix sends.
func (ds *Dataset) writeDef(i int) *flagcache.Definition {
	def := *ds.Defs[i] // shallow: the client only reads it
	stamp := fmt.Sprintf("w%011d ", ds.writes.Add(1))
	if len(def.Description) > len(stamp) {
		def.Description = stamp + def.Description[len(stamp):]
	} else {
		def.Description = stamp
	}
	return &def
}

// load creates every flag through c with conns workers. A flag that
// already exists (a reused --prefix) is overwritten unconditionally.
func (ds *Dataset) load(ctx context.Context, c *client.Client, conns int, bar *progress) error {
	return forEach(ctx, ds.Len(), conns, bar, func(ctx context.Context, i int) error {
		st, err := c.Create(ctx, ds.Defs[i])
		if errors.Is(err, flagcache.ErrAlreadyExists) {
			st, err = c.Update(ctx, ds.Defs[i], 0)
		}
		if err != nil {
			return fmt.Errorf("creating %s: %w", ds.IDs[i], err)
		}
		ds.SawVersion(i, st.Version)
		return nil
	})
}

// fetch reads every flag once from the daemon through h, keeping the
// response bodies for the baselines (and warming the daemon's caches).
func (ds *Dataset) fetch(ctx context.Context, h *httpTarget, conns int, bar *progress) error {
	ds.Bodies = make([][]byte, ds.Len())
	return forEach(ctx, ds.Len(), conns, bar, func(ctx context.Context, i int) error {
		res, err := h.fetch(ctx, h.flagURL(ds.IDs[i]), "")
		if err != nil {
			return fmt.Errorf("reading %s back: %w", ds.IDs[i], err)
		}
		ds.Bodies[i] = res.body
		ds.SawVersion(i, res.version)
		return nil
	})
}

// remove deletes every flag from the daemon h reads (after a run on a
// daemon the bench does not own).
func (ds *Dataset) remove(ctx context.Context, h *httpTarget, conns int, bar *progress) error {
	return forEach(ctx, ds.Len(), conns, bar, func(ctx context.Context, i int) error {
		if err := h.delete(ctx, h.flagURL(ds.IDs[i])); err != nil {
			return fmt.Errorf("deleting %s: %w", ds.IDs[i], err)
		}
		return nil
	})
}

// forEach runs fn for 0..n-1 on conns workers and stops at the first
// error, which it returns.
func forEach(ctx context.Context, n, conns int, bar *progress, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	done := make(chan struct{})
	workers := min(conns, n)
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
				bar.add(1)
			}
		}()
	}
	for range workers {
		<-done
	}
	bar.finish()
	return context.Cause(ctx)
}

// progress draws a progress bar on a terminal: nil draws nothing.
type progress struct {
	w     interface{ Write([]byte) (int, error) }
	label string
	total int
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	ended chan struct{}
}

// newProgress starts a bar on w, redrawn five times a second; nil w: none.
func newProgress(w interface{ Write([]byte) (int, error) }, label string, total int) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w, label: label, total: total, start: time.Now(), stop: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.draw()
				fmt.Fprintln(p.w)
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) add(n int) {
	if p != nil {
		p.done.Add(int64(n))
	}
}

func (p *progress) draw() {
	const width = 30
	done := int(p.done.Load())
	frac := float64(done) / float64(max(p.total, 1))
	bar := strings.Repeat("=", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
	rate := float64(done) / max(time.Since(p.start).Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r%-24s [%s] %d/%d %3.0f%% %.0f/s ", p.label, bar, done, p.total, 100*frac, rate)
}

// finish draws the bar a last time and ends its line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.ended
}
