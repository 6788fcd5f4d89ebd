package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/storetest"
)

func TestHistoryRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T, o storetest.RetentionOptions) flagcache.Store {
		var now func() time.Time
		if o.Clock != nil {
			now = o.Clock.Now
		}
		src := memstore.New(memstore.Options{History: o.Retention, Now: now})
		return newClient(t, startDaemon(t, src, httpapi.Options{}).URL)
	})
}

// With auth the actor is the token's name, whatever the caller claims,
// and the delete's change names it.
func TestHistoryActorIsTheToken(t *testing.T) {
	srv := startDaemon(t, memstore.New(memstore.Options{}), httpapi.Options{Tokens: []httpapi.Token{
		{Secret: "first-secret-0123456789", Scope: httpapi.ScopeWrite, Name: "deploy-bot"},
		{Secret: "second-secret-0123456789", Scope: httpapi.ScopeWrite},
	}})
	bot := newClient(t, srv.URL, client.WithToken("first-secret-0123456789"))
	second := newClient(t, srv.URL, client.WithToken("second-secret-0123456789"))
	ctx := flagcache.WithActor(context.Background(), "mallory")
	def, _ := flagcache.NewBoolean("f", "F", false)
	if _, err := bot.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	del, err := second.Delete(ctx, "f", 1)
	if err != nil {
		t.Fatal(err)
	}
	if del.Actor != "token-2" {
		t.Errorf("delete's actor: got %q, want token-2", del.Actor)
	}
	page, err := bot.History(context.Background(), "f", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Versions) != 2 || page.Versions[0].Actor != "token-2" || page.Versions[1].Actor != "deploy-bot" {
		t.Fatalf("history: %+v; want the delete by token-2, the create by deploy-bot", page.Versions)
	}
	if _, err := bot.GetVersion(context.Background(), "f", 2); !errors.Is(err, flagcache.ErrNotFound) {
		t.Errorf("GetVersion of the delete: %v, want ErrNotFound", err)
	}
}
