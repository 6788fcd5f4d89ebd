package pgsource

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flagcache/flagcache"
)

// TestDataExceptionIsInvalidArgument: any SQLSTATE of class 22 that gets
// past validation is the caller's bad input (400), never a 500.
func TestDataExceptionIsInvalidArgument(t *testing.T) {
	for _, code := range []string{"22P05", "22003", "22021", "22P02", "22001"} {
		err := translate(context.Background(), "insert", fmt.Errorf("exec: %w", &pgconn.PgError{Code: code, Message: "secret value 'x'"}))
		if !errors.Is(err, flagcache.ErrInvalidArgument) {
			t.Errorf("SQLSTATE %s: got %v, want ErrInvalidArgument", code, err)
		}
	}
	err := translate(context.Background(), "insert", &pgconn.PgError{Code: "42P01"})
	if errors.Is(err, flagcache.ErrInvalidArgument) {
		t.Errorf("SQLSTATE 42P01 (undefined table) is not the caller's fault: got %v", err)
	}
}
