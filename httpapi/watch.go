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
)

// Notifier tells watch streams that the store may have changed, so they
// read the change feed now instead of at the next poll. Signals may be
// coalesced or lost without harm: a woken stream reads everything after its
// cursor.
type Notifier interface {
	// Subscribe returns a channel that receives after changes and a
	// function that ends the subscription.
	Subscribe() (<-chan struct{}, func())
}

// Broadcaster is a Notifier whose Notify wakes every subscriber. The zero
// value is ready to use; it is safe for concurrent use.
type Broadcaster struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

var _ Notifier = (*Broadcaster)(nil)

// Subscribe implements Notifier.
func (b *Broadcaster) Subscribe() (<-chan struct{}, func()) {
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
func (b *Broadcaster) Notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// watchEvent is the data of one SSE event.
type watchEvent struct {
	ID       flagcache.ID `json:"id"`
	Version  int64        `json:"version"`
	Revision int64        `json:"revision"`
}

// watch serves GET /v1/watch. Errors before the first byte (a bad or
// expired cursor, an unreachable source) are ordinary error responses;
// once streaming, the stream just ends (after a "resync" event when the
// cursor expired meanwhile).
func (h *Handler) watch(w http.ResponseWriter, r *http.Request) error {
	if h.closing() {
		return &apiError{http.StatusServiceUnavailable, "unavailable", "the server is shutting down"}
	}
	ctx := r.Context()
	after, resume, err := watchCursor(r)
	if err != nil {
		return err
	}
	// Subscribe before the first read: a write between that read and the
	// subscription would otherwise wait for the next poll.
	wake, stop := h.writes.Subscribe()
	defer stop()
	var notified <-chan struct{}
	if h.opts.Notifier != nil {
		ch, stop := h.opts.Notifier.Subscribe()
		defer stop()
		notified = ch
	}
	if !resume {
		feed, err := h.store.Changes(ctx, 0, 1)
		if err != nil {
			return err
		}
		after = feed.Revision
	}
	first, err := h.store.Changes(ctx, after, h.opts.WatchPageSize)
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

	poll := time.NewTicker(h.opts.WatchPoll)
	defer poll.Stop()
	heartbeat := time.NewTicker(h.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		err := h.pump(ctx, s, &after, first)
		first = nil
		switch {
		case errors.Is(err, flagcache.ErrResyncNeeded):
			s.event("resync", "", ErrorDetail{Code: "resync_needed", Message: err.Error()})
			return nil
		case errors.Is(err, errStreamWrite) || ctx.Err() != nil:
			return nil
		case err != nil:
			// The source may be down: keep the stream, retry at the next poll.
			log.Warn("watch: reading the change feed failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		case <-heartbeat.C:
			if s.comment("ping") != nil {
				return nil
			}
		case <-wake:
		case <-notified:
		case <-poll.C:
		}
	}
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
			if feed, err = h.store.Changes(ctx, *after, h.opts.WatchPageSize); err != nil {
				return err
			}
		}
		for _, c := range feed.Changes {
			data := watchEvent{ID: c.ID, Version: c.Version, Revision: c.Revision}
			if err := s.event(string(c.Op), strconv.FormatInt(c.Revision, 10), data); err != nil {
				return err
			}
			*after = c.Revision
		}
		if len(feed.Changes) < h.opts.WatchPageSize {
			return nil
		}
		feed = nil
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
