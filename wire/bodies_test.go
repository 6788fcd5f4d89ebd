package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/wire"
)

// body is a response body written by the daemon and read by the client.
type body interface {
	AppendJSON([]byte) []byte
	json.Unmarshaler
}

// What the daemon writes, the client reads back to the same value: the
// encoding of the decoded body is the body.
func TestBodiesRoundTrip(t *testing.T) {
	store := memstore.New(memstore.Options{})
	var flags []*flagcache.Stored
	for _, id := range []flagcache.ID{"a", "b"} {
		def, err := flagcache.NewBoolean(id, "Flag "+string(id), true)
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.Create(context.Background(), def)
		if err != nil {
			t.Fatal(err)
		}
		flags = append(flags, s)
	}
	since := time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		name      string
		sent, got body
	}{
		{"list", &wire.ListResponse{Flags: flags, Total: 7}, &wire.ListResponse{}},
		{"empty list", &wire.ListResponse{Flags: []*flagcache.Stored{}}, &wire.ListResponse{}},
		{"modified page", &wire.FlagsResponse{Flags: flags, Next: &wire.ModifiedCursor{Since: since, AfterID: "b"}}, &wire.FlagsResponse{}},
		{"last modified page", &wire.FlagsResponse{Flags: flags[:1]}, &wire.FlagsResponse{}},
		{"batch", &wire.BatchGetResponse{Flags: map[flagcache.ID]*flagcache.Stored{"b": flags[1], "a": flags[0]}, Missing: []flagcache.ID{"c"}}, &wire.BatchGetResponse{}},
		{"batch of none", &wire.BatchGetResponse{Flags: map[flagcache.ID]*flagcache.Stored{}, Missing: []flagcache.ID{}}, &wire.BatchGetResponse{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.sent.AppendJSON(nil)
			if !json.Valid(b) {
				t.Fatalf("not JSON: %s", b)
			}
			if err := tc.got.UnmarshalJSON(b); err != nil {
				t.Fatalf("decoding %s: %v", b, err)
			}
			if again := tc.got.AppendJSON(nil); !bytes.Equal(again, b) {
				t.Errorf("sent\n%s\nread back\n%s", b, again)
			}
		})
	}
}
