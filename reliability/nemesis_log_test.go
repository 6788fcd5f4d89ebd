package reliability_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// nemLog keeps what the sidecars log (Info and above), to print beside the
// trace when a check fails: the trace says what state a sidecar was in,
// the log why.
type nemLog struct {
	mu   sync.Mutex
	recs []nemRecord
}

type nemRecord struct {
	at   time.Time
	line string
}

// nemLogKeep bounds the records kept: past it the oldest half goes.
const nemLogKeep = 50_000

func (l *nemLog) add(at time.Time, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) >= nemLogKeep {
		l.recs = append(l.recs[:0], l.recs[nemLogKeep/2:]...)
	}
	l.recs = append(l.recs, nemRecord{at, line})
}

// around returns the records between from and to, timed from base.
func (l *nemLog) around(base time.Time, from, to time.Duration) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if d := r.at.Sub(base); d >= from && d <= to {
			out = append(out, fmt.Sprintf("%v %s", d.Round(time.Millisecond), r.line))
		}
	}
	return out
}

// handler returns a slog.Handler that records into l, naming the sidecar.
func (l *nemLog) handler(name string) slog.Handler { return &nemLogHandler{l: l, prefix: name} }

type nemLogHandler struct {
	l      *nemLog
	prefix string // the sidecar's name and the attributes added with WithAttrs
}

func (h *nemLogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo
}

func (h *nemLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", h.prefix, r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.l.add(r.Time, b.String())
	return nil
}

func (h *nemLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	p := h.prefix
	for _, a := range attrs {
		p += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return &nemLogHandler{l: h.l, prefix: p}
}

func (h *nemLogHandler) WithGroup(string) slog.Handler { return h }
