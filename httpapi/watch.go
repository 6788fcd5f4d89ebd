package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// broadcaster wakes every subscriber on Notify; signals may be coalesced
// or lost without harm: a woken stream reads everything after its cursor.
// The zero value is ready to use; it is safe for concurrent use.
type broadcaster struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Subscribe returns a channel that receives after Notify and a function
// that ends the subscription.
func (b *broadcaster) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[chan struct{}]struct{})
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Notify wakes every subscriber without blocking: one pending signal per
// subscriber is enough.
func (b *broadcaster) Notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// errTooManyStreams is the 503 of a watch beyond the stream limits.
func errTooManyStreams(what string, limit int) error {
	return &apiError{wire.CodeUnavailable,
		fmt.Sprintf("too many watch streams: at most %d %s; retry later", limit, what)}
}

// watch serves GET /v1/watch. Errors before the first byte (a bad or
// expired cursor, an unreachable source, the stream limits) are ordinary
// error responses. Once streaming, every stream is fed by the handler's
// one poller (see watchHub), so idle streams cost no source reads; a
// stream that cannot make progress (its feed read fails) sends
// "event: error" with the error object and ends, and one whose cursor
// expired meanwhile sends "event: resync" and ends.
func (h *Handler) watch(w http.ResponseWriter, r *http.Request) error {
	if h.closing() {
		return &apiError{wire.CodeUnavailable, "the server is shutting down"}
	}
	ctx := r.Context()
	after, resume, err := watchCursor(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// Register before the first read: a change between that read and the
	// registration would otherwise wait for the next poll.
	sub, err := h.hub.join(tokenOf(ctx))
	if err != nil {
		w.Header().Set("Retry-After", "5")
		return err
	}
	defer h.hub.leave(sub)
	if !resume {
		feed, err := h.readFeed(ctx, 0, 1)
		if err != nil {
			return err
		}
		after = feed.Revision
	}
	first, err := h.readFeed(ctx, after, h.opts.WatchPageSize)
	if err != nil {
		return err
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	s := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: h.opts.WatchWriteTimeout}
	w.WriteHeader(http.StatusOK)
	log := logger(ctx, h.log).With(slog.Int64("cursor", after))
	if err := s.comment("watching after revision " + strconv.FormatInt(after, 10)); err != nil {
		return nil
	}
	if err := h.pump(ctx, s, &after, first); err != nil {
		h.endStream(r, s, log, err)
		return nil
	}

	heartbeat := time.NewTicker(h.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		case <-heartbeat.C:
			if s.comment("ping") != nil {
				return nil
			}
		case <-sub.signal:
			b := h.hub.latestAfter(sub)
			if b == nil {
				continue
			}
			var err error
			switch {
			case b.err != nil:
				err = b.err
			case b.from == after:
				err = h.send(s, &after, b.changes)
			case b.to > after:
				// Behind the poller (or ahead of an older read of it):
				// catch up on its own reads.
				err = h.pump(ctx, s, &after, nil)
			}
			if err != nil {
				h.endStream(r, s, log, err)
				return nil
			}
		}
	}
}

// endStream ends a stream that cannot make progress: after a failed write
// there is nobody to tell; an expired cursor gets "event: resync"; any
// other error "event: error" with the error object a response would carry.
func (h *Handler) endStream(r *http.Request, s *sseWriter, log *slog.Logger, err error) {
	switch {
	case errors.Is(err, errStreamWrite) || r.Context().Err() != nil:
	case errors.Is(err, flagcache.ErrResyncNeeded):
		s.event(wire.EventResync, "", wire.ErrorDetail{Code: wire.CodeResyncNeeded, Message: err.Error()})
	default:
		log.Warn("watch: reading the change feed failed; ending the stream", slog.String("error", err.Error()))
		_, detail := classify(r, err)
		s.event(wire.EventError, "", wire.ErrorBody{Error: &detail})
	}
}

// readFeed reads one page of the change feed, bounded by WatchReadTimeout
// so a source that stopped answering (a half-open connection) ends the
// stream instead of hanging it.
func (h *Handler) readFeed(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.WatchReadTimeout)
	defer cancel()
	return h.store.Changes(ctx, after, limit)
}

// errStreamWrite marks a failed write to the client: the stream is over.
var errStreamWrite = errors.New("watch stream write failed")

// pump sends the changes after *after, page by page, starting with first
// when it is not nil, and advances *after past each one sent.
func (h *Handler) pump(ctx context.Context, s *sseWriter, after *int64, first *flagcache.ChangeFeed) error {
	feed := first
	for {
		if feed == nil {
			var err error
			if feed, err = h.readFeed(ctx, *after, h.opts.WatchPageSize); err != nil {
				return err
			}
		}
		if err := h.send(s, after, feed.Changes); err != nil {
			return err
		}
		if len(feed.Changes) < h.opts.WatchPageSize {
			return nil
		}
		feed = nil
	}
}

// send writes changes as events and advances *after past each one sent.
func (h *Handler) send(s *sseWriter, after *int64, changes []flagcache.Change) error {
	for _, c := range changes {
		data := wire.WatchEvent{ID: c.ID, Version: c.Version, Revision: c.Revision, Actor: c.Actor}
		if err := s.event(string(c.Op), strconv.FormatInt(c.Revision, 10), data); err != nil {
			return err
		}
		*after = c.Revision
	}
	return nil
}

// watchHub is the one poller of a Handler's watch streams. While any
// stream is open it reads the change feed after the newest revision it
// has seen, when woken by Handler.Notify (a write through the handler, or
// the store saying it changed) or by the WatchPoll ticker, and publishes what it read as a batch; every
// stream whose cursor is where the batch starts sends it without a read
// of its own. So N idle streams cost the source what one does. It also
// counts the streams against MaxWatchStreams and MaxWatchStreamsPerToken.
type watchHub struct {
	h *Handler

	mu       sync.Mutex
	subs     map[*watchSub]struct{}
	perToken map[int]int
	running  bool
	latest   *watchBatch
	wake     chan struct{}    // wakes the poller (a stream left)
	ticks    <-chan time.Time // tests: the poll ticks; nil: a ticker of WatchPoll
}

// watchBatch is one read of the poller: the changes after from, up to the
// revision to (from when there were none), or the error of the read.
type watchBatch struct {
	seq      uint64
	from, to int64
	changes  []flagcache.Change
	err      error
}

// watchSub is one stream's membership of the hub.
type watchSub struct {
	token  int
	signal chan struct{} // one pending signal: a newer batch is out
	seen   uint64        // the seq of the last batch the stream looked at
}

func newWatchHub(h *Handler) *watchHub {
	return &watchHub{h: h, subs: make(map[*watchSub]struct{}), perToken: make(map[int]int), wake: make(chan struct{}, 1)}
}

// join adds a stream of token (-1 without tokens), or fails with a 503
// beyond the limits, and starts the poller if it is not running.
func (hub *watchHub) join(token int) (*watchSub, error) {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if max := hub.h.opts.MaxWatchStreams; len(hub.subs) >= max {
		return nil, errTooManyStreams("per server", max)
	}
	if max := hub.h.opts.MaxWatchStreamsPerToken; token >= 0 && hub.perToken[token] >= max {
		return nil, errTooManyStreams("per token", max)
	}
	sub := &watchSub{token: token, signal: make(chan struct{}, 1)}
	if hub.latest != nil {
		sub.seen = hub.latest.seq
	}
	hub.subs[sub] = struct{}{}
	hub.perToken[token]++
	if !hub.running {
		// Subscribed before the stream's first read, like the stream
		// itself: a change in between wakes the poller.
		hub.running = true
		changed, stop := hub.h.writes.Subscribe()
		go func() {
			defer stop()
			hub.poll(changed)
		}()
	}
	return sub, nil
}

// leave removes a stream; the last one out stops the poller.
func (hub *watchHub) leave(sub *watchSub) {
	hub.mu.Lock()
	delete(hub.subs, sub)
	if hub.perToken[sub.token]--; hub.perToken[sub.token] == 0 {
		delete(hub.perToken, sub.token)
	}
	empty := len(hub.subs) == 0
	hub.mu.Unlock()
	if empty {
		select {
		case hub.wake <- struct{}{}:
		default:
		}
	}
}

// latestAfter returns the newest batch sub has not looked at, or nil.
func (hub *watchHub) latestAfter(sub *watchSub) *watchBatch {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if hub.latest == nil || hub.latest.seq <= sub.seen {
		return nil
	}
	sub.seen = hub.latest.seq
	return hub.latest
}

// publish makes b the latest batch and signals every stream.
func (hub *watchHub) publish(b *watchBatch) {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if hub.latest != nil {
		b.seq = hub.latest.seq + 1
	} else {
		b.seq = 1
	}
	hub.latest = b
	for sub := range hub.subs {
		select {
		case sub.signal <- struct{}{}:
		default:
		}
	}
}

// poll runs while streams are open, woken by changed and the ticks.
func (hub *watchHub) poll(changed <-chan struct{}) {
	h := hub.h
	ticks := hub.ticks
	if ticks == nil {
		ticker := time.NewTicker(h.opts.WatchPoll)
		defer ticker.Stop()
		ticks = ticker.C
	}
	head := int64(-1) // unknown: read the current revision first
	for {
		hub.mu.Lock()
		if len(hub.subs) == 0 {
			hub.running = false
			hub.mu.Unlock()
			return
		}
		hub.mu.Unlock()
		if head < 0 {
			feed, err := h.readFeed(context.Background(), 0, 1)
			if err != nil {
				hub.publish(&watchBatch{err: err})
			} else {
				// Streams whose first read came before this one catch up.
				head = feed.Revision
				hub.publish(&watchBatch{from: head, to: head})
			}
		}
		select {
		case <-h.done:
			hub.mu.Lock()
			hub.running = false
			hub.mu.Unlock()
			return
		case <-hub.wake:
			continue
		case <-changed:
		case <-ticks:
		}
		if head < 0 {
			continue
		}
		b := &watchBatch{from: head, to: head}
		for {
			feed, err := h.readFeed(context.Background(), b.to, h.opts.WatchPageSize)
			if err != nil {
				b = &watchBatch{err: err}
				head = -1
				break
			}
			b.changes = append(b.changes, feed.Changes...)
			if n := len(feed.Changes); n > 0 {
				b.to = feed.Changes[n-1].Revision
			}
			if len(feed.Changes) < h.opts.WatchPageSize {
				break
			}
		}
		if b.err != nil || b.to > b.from {
			hub.publish(b)
		}
		if b.err == nil {
			head = b.to
		}
	}
}

// watchCursor returns the cursor of a watch request: Last-Event-ID (what an
// EventSource sends when it reconnects) wins over ?after=. resume is false
// when neither is given.
func watchCursor(r *http.Request) (after int64, resume bool, err error) {
	vals := r.URL.Query()
	if err := checkParams(vals, []string{"after"}); err != nil {
		return 0, false, err
	}
	if id := strings.TrimSpace(r.Header.Get("Last-Event-ID")); id != "" {
		after, err := strconv.ParseInt(id, 10, 64)
		if err != nil || after < 0 {
			return 0, false, flagcache.Invalid("Last-Event-ID", "%q is not a revision", truncate(id, 32))
		}
		return after, true, nil
	}
	if _, ok := vals["after"]; !ok {
		return 0, false, nil
	}
	after, err = integer(vals, "after", 0, 0, 1<<63-1)
	return after, err == nil, err
}

// sseWriter writes Server-Sent Events, flushing each one. Every write gets
// its own deadline, so the server's WriteTimeout does not end the stream
// while a client that stopped reading is still dropped.
type sseWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *sseWriter) event(name, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var msg strings.Builder
	if id != "" {
		fmt.Fprintf(&msg, "id: %s\n", id)
	}
	fmt.Fprintf(&msg, "event: %s\ndata: %s\n\n", name, b)
	return s.write(msg.String())
}

func (s *sseWriter) comment(text string) error {
	return s.write(": " + text + "\n\n")
}

func (s *sseWriter) write(msg string) error {
	// ErrNotSupported (a writer without a connection) just means no deadline.
	s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := io.WriteString(s.w, msg); err != nil {
		return fmt.Errorf("%w: %v", errStreamWrite, err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("%w: %v", errStreamWrite, err)
	}
	return nil
}
