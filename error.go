package flagcache

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every Store returns errors that match one of these with
// errors.Is (wrapped with detail), so callers never see a driver's error type.
var (
	// ErrNotFound: the flag does not exist (or was deleted).
	ErrNotFound = errors.New("flag not found")
	// ErrAlreadyExists: Create of an id that already exists.
	ErrAlreadyExists = errors.New("flag already exists")
	// ErrVersionConflict: the expected version is not the current one. The
	// concrete error is a *VersionConflictError carrying both versions.
	ErrVersionConflict = errors.New("version conflict")
	// ErrInvalidArgument: bad input; nothing was written. The concrete error
	// is usually an *InvalidError naming the field.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable: a backend could not be reached; the cause is wrapped.
	ErrUnavailable = errors.New("unavailable")
	// ErrResyncNeeded: a Changes cursor is older than the change-log
	// retention window; the caller must re-read everything (List) and start
	// again from the current revision.
	ErrResyncNeeded = errors.New("change cursor expired: resync needed")
	// ErrUnauthenticated and ErrPermissionDenied come from the HTTP API.
	ErrUnauthenticated  = errors.New("unauthenticated")
	ErrPermissionDenied = errors.New("permission denied")
)

// VersionConflictError reports a compare-and-set that lost: Expected is what
// the caller asked for, Actual the flag's real current version.
type VersionConflictError struct {
	ID       ID
	Expected int64
	Actual   int64
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("version conflict on %q: expected version %d, current version is %d", e.ID, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrVersionConflict) hold.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }

// InvalidError is bad input to a store call; Field names the offending field
// (a JSON path such as "metadata.tags" or a parameter such as "limit").
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return "invalid argument: " + e.Reason
	}
	return "invalid " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidArgument) hold.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalidArgument }

// Invalid returns an *InvalidError for field with a formatted reason.
func Invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Unavailable wraps cause so that it matches ErrUnavailable and still
// unwraps to the cause.
func Unavailable(cause error) error {
	if cause == nil {
		return nil
	}
	return &unavailableError{cause: cause}
}

type unavailableError struct{ cause error }

func (e *unavailableError) Error() string   { return "unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }
