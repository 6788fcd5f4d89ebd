package pgsource

import "github.com/flagcache/flagcache"

// ListStatement and CountStatement expose the query builder, so the EXPLAIN
// test plans exactly the SQL and arguments List and Count run.
func ListStatement(q flagcache.Query) (string, []any) {
	st := listStatement(q)
	return st.sql, st.args
}

func CountStatement(q flagcache.Query) (string, []any) {
	st := countStatement(q)
	return st.sql, st.args
}
