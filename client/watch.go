package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/wire"
)

// Event is a change announced by the watch stream. It names the write, not
// its content: Get the flag for that.
type Event struct {
	// Op is flagcache.OpUpsert, flagcache.OpDelete or OpResync.
	Op flagcache.Op
	// ID and Version name the flag and the version written (the
	// tombstone's version for a delete). Empty for OpResync.
	ID      flagcache.ID
	Version int64
	// Revision is the store-wide revision of the write. For OpResync it
	// is the revision the stream continues after.
	Revision int64
	// Actor is who made the write, as the daemon recorded it (see
	// flagcache.WithActor; "sql:<role>" for a plain SQL writer), when
	// the store keeps it; empty otherwise.
	Actor string
}

// OpResync is the Op of an Event that says the stream's cursor expired
// (the daemon no longer has the changes after it): events were lost, so
// re-read every flag you care about. Events after Revision follow.
const OpResync flagcache.Op = wire.EventResync

// FromNow as Watch's after starts the stream at the store's current
// revision: only writes made from then on are announced.
const FromNow int64 = -1

// Watch streams the change events after the revision after (GET /v1/watch;
// after = 0 replays the whole compacted feed first, FromNow skips it).
// The first connection is made before Watch returns, so a bad token or an
// expired cursor (flagcache.ErrResyncNeeded) is returned at once. After
// that, a dropped stream is resumed with Last-Event-ID, nothing missed;
// should the cursor expire meanwhile, an OpResync event comes first.
// The feed is compacted, so a flag written several times before the
// stream reads the feed is announced once, at its latest write.
// The channel is closed when ctx ends or the client is closed; a reader
// that stops reading holds the stream back (the daemon then drops it and
// the client resumes it).
func (c *Client) Watch(ctx context.Context, after int64) (<-chan Event, error) {
	if after < FromNow {
		return nil, flagcache.Invalid("after", "must be a revision, or FromNow")
	}
	if c.ctx.Err() != nil {
		return nil, errors.New("client: Watch on a closed client")
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	if after == FromNow {
		feed, err := c.changesPage(ctx, 0, 1)
		if err != nil {
			stop()
			cancel()
			return nil, err
		}
		after = feed.Revision
	}
	s, err := c.openStream(ctx, after)
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	ch := make(chan Event, 16)
	loop := &watchLoop{c: c, cursor: after, onEvent: func(ctx context.Context, ev Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		defer stop()
		defer close(ch)
		loop.run(ctx, s)
	}()
	return ch, nil
}

// watchLoop keeps one logical watch alive across connections.
type watchLoop struct {
	c      *Client
	cursor int64 // the last revision announced (or the start; FromNow: not yet known)
	resync bool  // the cursor expired: continue from the current revision
	// onEvent takes each event in order; false stops the loop.
	onEvent func(ctx context.Context, ev Event) bool
	// onState, when set, hears when a stream opens and ends.
	onState func(connected bool)
	// onCaughtUp, when set, is called once per stream, when the events up
	// to the revision the daemon had as the stream opened are applied.
	onCaughtUp func()

	reconnects atomic.Uint64
	mu         sync.Mutex
	lastErr    error
}

// run reads first (an open stream, or nil) and then reconnects until ctx
// ends, with backoff between failed attempts.
func (w *watchLoop) run(ctx context.Context, first *sseStream) {
	failures := 0
	for s := first; ; s = nil {
		if s == nil {
			var err error
			if s, err = w.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				w.setErr(err)
				if errors.Is(err, flagcache.ErrResyncNeeded) {
					w.resync = true
				}
				if sleep(ctx, w.c.jitter(failures, 0)) != nil {
					return
				}
				failures++
				continue
			}
			w.reconnects.Add(1)
		}
		if w.onState != nil {
			w.onState(true)
		}
		opened := time.Now()
		err := w.pump(ctx, s)
		if w.onState != nil {
			w.onState(false)
		}
		s.close()
		if ctx.Err() != nil {
			return
		}
		w.setErr(err)
		if errors.Is(err, flagcache.ErrResyncNeeded) {
			w.resync = true
		}
		// A stream that ends as soon as it opens, or says it cannot make
		// progress, is a failing server: back off as after a failed
		// connect, not in a tight loop.
		var streamErr *streamError
		if time.Since(opened) > time.Second && !errors.As(err, &streamErr) {
			failures = 0
		} else {
			if sleep(ctx, w.c.jitter(failures, 0)) != nil {
				return
			}
			failures++
		}
	}
}

// connect opens a stream after the cursor, or, when the cursor expired,
// after the current revision with an OpResync event first.
func (w *watchLoop) connect(ctx context.Context) (*sseStream, error) {
	cursor := w.cursor
	if w.resync || cursor == FromNow {
		feed, err := w.c.changesPage(ctx, 0, 1)
		if err != nil {
			return nil, err
		}
		cursor = feed.Revision
	}
	s, err := w.c.openStream(ctx, cursor)
	if err != nil {
		return nil, err
	}
	if w.resync {
		if !w.onEvent(ctx, Event{Op: OpResync, Revision: cursor}) {
			s.close()
			return nil, ctx.Err()
		}
	}
	w.resync, w.cursor = false, cursor
	return s, nil
}

// pump hands the events of s to onEvent until the stream ends, and calls
// onCaughtUp once its backlog is applied.
func (w *watchLoop) pump(ctx context.Context, s *sseStream) error {
	target, err := w.backlogEnd(ctx)
	if err != nil {
		return err
	}
	for {
		if target >= 0 && w.cursor >= target {
			target = -1
			w.onCaughtUp()
		}
		ev, err := s.next()
		if err != nil {
			return err
		}
		if ev.Op == opPing {
			if target >= 0 {
				// The daemon's last write may be a delete compacted out
				// of the feed: then no event reaches target. Ask whether
				// anything is left after the cursor.
				if target, err = w.backlogEnd(ctx); err != nil {
					return err
				}
			}
			continue
		}
		if ev.Revision <= w.cursor {
			continue // a replay of what was already announced
		}
		if !w.onEvent(ctx, ev) {
			return ctx.Err()
		}
		w.cursor = ev.Revision
	}
}

// backlogEnd returns the revision the stream's events must reach before
// the backlog is applied: the daemon's current revision, read after the
// stream opened (so the stream carries every change up to it); -1 when
// nothing is left after the cursor, or nobody waits for it.
func (w *watchLoop) backlogEnd(ctx context.Context) (int64, error) {
	if w.onCaughtUp == nil {
		return -1, nil
	}
	feed, stale, err := w.c.changesReply(ctx, w.cursor, 1)
	if err != nil {
		return 0, err
	}
	if stale {
		// Served from the daemon's memory while its source is down: it
		// cannot say what is after the cursor, so the backlog is not
		// known to be applied. End the stream; the loop reconnects.
		return 0, flagcache.Unavailable(errors.New("client: the daemon's change feed is stale (its source is unreachable)"))
	}
	if len(feed.Changes) == 0 {
		return w.cursor, nil // caught up already
	}
	return feed.Revision, nil
}

func (w *watchLoop) setErr(err error) {
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
}

func (w *watchLoop) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// sseStream is an open GET /v1/watch response.
type sseStream struct {
	res    *http.Response
	rd     *bufio.Reader
	idle   *time.Timer
	period time.Duration
	cancel context.CancelFunc
}

// openStream sends GET /v1/watch with Last-Event-ID: cursor and returns
// the stream once the daemon answered 200.
func (c *Client) openStream(ctx context.Context, cursor int64) (*sseStream, error) {
	sctx, cancel := context.WithCancel(ctx)
	req, err := c.newRequest(sctx, http.MethodGet, "/v1/watch", nil, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatInt(cursor, 10))
	cl := &call{method: http.MethodGet, path: "/v1/watch", read: true}
	// The response headers come at once; bound the wait for them.
	timer := time.AfterFunc(c.timeout, cancel)
	res, err := c.http.Do(req)
	timer.Stop()
	if err != nil {
		cancel()
		return nil, transportError(ctx, cl, err, false)
	}
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		cancel()
		return nil, responseError(cl, res, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		res.Body.Close()
		cancel()
		return nil, fmt.Errorf("client: GET /v1/watch answered %q, not an event stream", ct)
	}
	return &sseStream{
		res:    res,
		rd:     bufio.NewReader(res.Body),
		idle:   time.AfterFunc(c.idle, cancel),
		period: c.idle,
		cancel: cancel,
	}, nil
}

func (s *sseStream) close() {
	s.idle.Stop()
	s.cancel()
	s.res.Body.Close()
}

// next returns the next change event. A "resync" event (the cursor expired
// while streaming) is ErrResyncNeeded; the end of the stream io.EOF or the
// read's error, as ErrUnavailable.
func (s *sseStream) next() (Event, error) {
	var name, id string
	var data strings.Builder
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				return Event{}, flagcache.Unavailable(errors.New("client: the watch stream ended"))
			}
			return Event{}, flagcache.Unavailable(fmt.Errorf("client: reading the watch stream: %w", err))
		}
		s.idle.Reset(s.period)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if name == "" && data.Len() == 0 {
				continue
			}
			ev, ok, err := parseEvent(name, id, data.String())
			if err != nil || ok {
				return ev, err
			}
			name, id = "", ""
			data.Reset()
			continue
		}
		if line[0] == ':' {
			if name == "" && data.Len() == 0 {
				return Event{Op: opPing}, nil // a comment: the ping keeps the idle timer fed
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "id":
			id = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
}

// opPing is the Op next returns for a comment (the daemon's heartbeat).
const opPing flagcache.Op = "ping"

// streamError is an "error" event: the daemon's stream cannot make
// progress (its source does not answer) and closes.
type streamError struct{ err *Error }

func (e *streamError) Error() string { return e.err.Error() }
func (e *streamError) Unwrap() error { return e.err }

// parseEvent decodes one dispatched event; ok is false for events that
// are not changes (ignored, for forward compatibility).
func parseEvent(name, id, data string) (Event, bool, error) {
	switch flagcache.Op(name) {
	case flagcache.OpUpsert, flagcache.OpDelete:
	case OpResync:
		return Event{}, false, errorOf(wire.CodeResyncNeeded, "the watch cursor expired while streaming")
	case wire.EventError:
		e := errorOf(wire.CodeUnavailable, "the watch stream failed")
		var body wire.ErrorBody
		// A body that does not decode still ends the stream.
		if json.Unmarshal([]byte(data), &body) == nil && body.Error != nil {
			e.Code, e.Message = body.Error.Code, e.Message+": "+body.Error.Message
		}
		return Event{}, false, &streamError{e}
	default:
		return Event{}, false, nil
	}
	var body wire.WatchEvent
	if err := json.Unmarshal([]byte(data), &body); err != nil {
		return Event{}, false, flagcache.Unavailable(fmt.Errorf("client: a watch event that does not decode: %w", err))
	}
	ev := Event{Op: flagcache.Op(name), ID: body.ID, Version: body.Version, Revision: body.Revision, Actor: body.Actor}
	if rev, err := strconv.ParseInt(id, 10, 64); err == nil && ev.Revision == 0 {
		ev.Revision = rev
	}
	return ev, true, nil
}
