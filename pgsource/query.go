package pgsource

import (
	"strconv"
	"strings"

	"github.com/flagcache/flagcache"
)

// The statements of the store. Values are always bound parameters; the only
// SQL assembled at run time is the WHERE clause of List and Count, from the
// fixed fragments below with numbered placeholders.
const (
	flagColumns = `id, definition, version, revision`

	getSQL     = `SELECT ` + flagColumns + ` FROM feature_flags WHERE id = $1`
	getManySQL = `SELECT ` + flagColumns + ` FROM feature_flags WHERE id = ANY($1)`
	existsSQL  = `SELECT EXISTS (SELECT 1 FROM feature_flags WHERE id = $1)`

	// modifiedColumns adds the column ModifiedSince orders by, which a
	// row another writer stored may hold apart from its definition's
	// updated_at (Stored.Modified).
	modifiedColumns  = flagColumns + `, updated_at`
	modifiedSinceSQL = `SELECT ` + modifiedColumns + ` FROM feature_flags
		WHERE updated_at > $1 ORDER BY updated_at, id COLLATE "C"`

	// listOrder is flagcache.CompareStored: name then id, bytewise. A
	// definition without a name, or whose name is not a string, sorts as
	// the empty name, as in Go.
	listOrder = ` ORDER BY (CASE WHEN jsonb_typeof(definition->'name') = 'string'
		THEN definition->>'name' ELSE '' END) COLLATE "C", id COLLATE "C"`
)

// Filter fragments, one per Query field, each using the seed's index for
// it: the expression indexes on status and owner, the GIN index on tags.
// A member of another type than flagcache models is absent, as in Go
// (flagcache.Query.Match on a decoded definition): the operators alone
// would match tags or an owner that are a string or a number, and
// environments that are an array ('"a"'::jsonb ? 'a' is true). A status
// that is not a string never equals a valid one, so it needs no guard.
const (
	whereStatus      = `definition->>'status' = $`
	whereNotArchived = `definition->>'status' IS DISTINCT FROM 'archived'` // a missing status is not archived
	whereEnvironment = `(jsonb_typeof(definition->'environments') = 'object' AND definition->'environments' ? $`
	whereTags        = `(CASE WHEN jsonb_typeof(definition->'metadata'->'tags') = 'array'
		THEN NOT jsonb_path_exists(definition->'metadata'->'tags', 'strict $[*] ? (@.type() != "string")')
		ELSE FALSE END AND definition->'metadata'->'tags' ?| $` // any of; the parameter is cast to text[]
	whereOwner = `(jsonb_typeof(definition->'metadata'->'owner') = 'string' AND definition->'metadata'->>'owner' = $`
)

// statement is SQL text with its bound arguments.
type statement struct {
	sql  string
	args []any
}

// bind appends the fragment with the next placeholder number for v, then
// cast (a type cast and closing parenthesis, or nothing).
func (s *statement) bind(fragment string, v any, cast string) string {
	s.args = append(s.args, v)
	return fragment + strconv.Itoa(len(s.args)) + cast
}

// where returns the WHERE clause of q's filters (exactly flagcache.Query.Match)
// and binds their values.
func (s *statement) where(q flagcache.Query) string {
	var conds []string
	if q.Status != "" {
		conds = append(conds, s.bind(whereStatus, string(q.Status), ""))
	} else if !q.IncludeArchived {
		conds = append(conds, whereNotArchived)
	}
	if q.Environment != "" {
		conds = append(conds, s.bind(whereEnvironment, q.Environment, ")"))
	}
	if len(q.Tags) > 0 {
		conds = append(conds, s.bind(whereTags, q.Tags, "::text[])"))
	}
	if q.Owner != "" {
		conds = append(conds, s.bind(whereOwner, q.Owner, ")"))
	}
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// listStatement is the query of List for q: the filters, the order, and
// Offset and Limit when set.
func listStatement(q flagcache.Query) statement {
	var s statement
	s.sql = `SELECT ` + flagColumns + ` FROM feature_flags` + s.where(q) + listOrder
	if q.Offset > 0 {
		s.sql += s.bind(" OFFSET $", int64(q.Offset), "")
	}
	if q.Limit > 0 {
		s.sql += s.bind(" LIMIT $", int64(q.Limit), "")
	}
	return s
}

// countStatement is the query of Count for q: the same filters as List.
func countStatement(q flagcache.Query) statement {
	var s statement
	s.sql = `SELECT count(*) FROM feature_flags` + s.where(q)
	return s
}
