package pgsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/flagcache/flagcache"
)

// SQLSTATE codes the store tells apart. Class 08 (connection exception) is
// matched by prefix.
const (
	codeUniqueViolation    = "23505"
	codeTooManyConnections = "53300"
	codeAdminShutdown      = "57P01"
	codeCrashShutdown      = "57P02"
	codeCannotConnectNow   = "57P03"
	codeSerialization      = "40001"
	codeDeadlock           = "40P01"
)

// translate is the one place where driver errors become the contract's:
// a cancelled or expired context comes back as the context's error, a
// server that cannot be reached as flagcache.ErrUnavailable wrapping the
// cause, and anything else as an opaque error carrying the message (no
// driver type leaks out). Errors of the flagcache package pass through.
func translate(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if isDomain(err) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("pgsource: %s: %w", op, ctxErr)
	}
	if unreachable(err) {
		return flagcache.Unavailable(fmt.Errorf("pgsource: %s: %w", op, err))
	}
	if retryable(err) {
		// What is left of a write Postgres kept aborting as a deadlock
		// victim: nothing was written, and it may succeed if tried again.
		return flagcache.Unavailable(fmt.Errorf("pgsource: %s: %w", op, err))
	}
	if code, ok := dataException(err); ok {
		// Validation refuses what Postgres cannot store (NUL, lone
		// surrogates, huge numbers); anything of class 22 that still gets
		// here is the caller's data, not a server fault.
		return flagcache.Invalid("", "Postgres refused a value (SQLSTATE %s)", code)
	}
	return fmt.Errorf("pgsource: %s: %v", op, err)
}

func isDomain(err error) bool {
	for _, known := range []error{
		flagcache.ErrNotFound, flagcache.ErrAlreadyExists, flagcache.ErrVersionConflict,
		flagcache.ErrInvalidArgument, flagcache.ErrResyncNeeded, flagcache.ErrUnavailable,
		errCorrupt,
	} {
		if errors.Is(err, known) {
			return true
		}
	}
	return false
}

// unreachable reports whether err means the server could not be reached or
// went away, as opposed to a statement the server refused.
func unreachable(err error) bool {
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true // refused, timed out or failed to authenticate: not usable
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeTooManyConnections, codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow:
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var netErr net.Error
	return pgconn.SafeToRetry(err) || // failed before anything was sent
		pgconn.Timeout(err) || // a dial or read timeout while the caller's context is alive
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, puddle.ErrClosedPool) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &netErr)
}

// dataException reports an error of SQLSTATE class 22 (data exception:
// invalid text representation, untranslatable character, numeric value
// out of range, ...) and its code.
func dataException(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		return pgErr.Code, true
	}
	return "", false
}

// retryable reports a transaction Postgres rolled back so that it may be
// tried again: a deadlock victim or a serialization failure.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == codeDeadlock || pgErr.Code == codeSerialization)
}

// isUniqueViolation reports a unique constraint violation by SQLSTATE.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation
}

// errCorrupt marks a stored definition that does not decode.
var errCorrupt = errors.New("pgsource: stored definition does not decode")
