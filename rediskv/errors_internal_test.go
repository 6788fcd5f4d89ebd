package rediskv

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/flagcache/flagcache"
)

// replyError is a server reply as go-redis returns it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// TestCredentialErrorsAreUnavailable: a server that refuses our
// credentials is unavailable (503), not an internal error (500).
func TestCredentialErrorsAreUnavailable(t *testing.T) {
	for _, msg := range []string{
		"WRONGPASS invalid username-password pair or user is disabled.",
		"NOAUTH Authentication required.",
		"NOPERM User flagcache has no permissions to run the 'evalsha' command",
	} {
		if err := translate(context.Background(), replyError(msg)); !errors.Is(err, flagcache.ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", msg, err)
		}
	}
	if err := translate(context.Background(), replyError("WRONGTYPE Operation against a key")); errors.Is(err, flagcache.ErrUnavailable) {
		t.Errorf("WRONGTYPE is not unavailability: %v", err)
	}
}

// TestSetLogger: go-redis's log lines come out of the slog handler, named
// "redis: " once (most of go-redis's own lines start with it already).
func TestSetLogger(t *testing.T) {
	var _ interface {
		Printf(ctx context.Context, format string, v ...any)
	} = slogAdapter{}
	for _, tc := range []struct{ format, arg, want string }{
		{"pool: %s", "conn closed", `"msg":"redis: pool: conn closed"`},
		{"redis: connection pool: %s", "failed to dial", `"msg":"redis: connection pool: failed to dial"`},
		{"sentinel: new master=%s", "mymaster", `"msg":"redis: sentinel: new master=mymaster"`},
	} {
		var buf bytes.Buffer
		slogAdapter{slog.New(slog.NewJSONHandler(&buf, nil))}.Printf(context.Background(), tc.format, tc.arg)
		if !strings.Contains(buf.String(), tc.want) || !strings.Contains(buf.String(), `"level":"WARN"`) {
			t.Errorf("log: %s, want %s", buf.String(), tc.want)
		}
	}
}
