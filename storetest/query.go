package storetest

import (
	"testing"

	"github.com/flagcache/flagcache"
)

var queryCases = []testCase{
	{"List/Filters", testListFilters},
	{"List/CountMatchesList", testCountMatchesList},
	{"List/Pagination", testPagination},
	{"List/OrderByNameThenID", testOrderByNameThenID},
	{"List/EmptyStore", testListEmpty},
	{"List/DeletedLeftOut", testListDeletedLeftOut},
}

// seedQueryFixture writes six flags whose attributes cover every filter.
// Bytewise name order: Alpha(alpha-1), Alpha(alpha-10), Delta, Gamma, Zulu, beta.
func seedQueryFixture(t *testing.T, s flagcache.Store) {
	t.Helper()
	for _, d := range []*flagcache.Definition{
		flag("alpha-1", "Alpha", withStatus(flagcache.StatusActive), withTags("checkout", "ui"), withOwner("team-a"), withEnvs("production", "staging")),
		flag("alpha-10", "Alpha", withStatus(flagcache.StatusInactive), withTags("ui"), withOwner("team-b"), withEnvs("staging")),
		flag("beta", "beta", withStatus(flagcache.StatusActive), withTags("billing"), withOwner("team-a"), withEnvs("production")),
		flag("zulu", "Zulu", withStatus(flagcache.StatusDeprecated), withOwner("team-c")),
		flag("gamma", "Gamma", withStatus(flagcache.StatusArchived), withTags("checkout"), withOwner("team-a"), withEnvs("production")),
		flag("delta", "Delta", withStatus(flagcache.StatusArchived), withTags("ui", "billing"), withOwner("team-b"), withEnvs("staging")),
	} {
		mustCreate(t, s, d)
	}
}

var queryTable = []struct {
	name string
	q    flagcache.Query
	want []string
}{
	{"no filter leaves archived out", flagcache.Query{}, []string{"alpha-1", "alpha-10", "zulu", "beta"}},
	{"include archived", flagcache.Query{IncludeArchived: true}, []string{"alpha-1", "alpha-10", "delta", "gamma", "zulu", "beta"}},
	{"status active", flagcache.Query{Status: flagcache.StatusActive}, []string{"alpha-1", "beta"}},
	{"status inactive", flagcache.Query{Status: flagcache.StatusInactive}, []string{"alpha-10"}},
	{"status deprecated", flagcache.Query{Status: flagcache.StatusDeprecated}, []string{"zulu"}},
	{"explicit archived status includes archived", flagcache.Query{Status: flagcache.StatusArchived}, []string{"delta", "gamma"}},
	{"archived status with include archived", flagcache.Query{Status: flagcache.StatusArchived, IncludeArchived: true}, []string{"delta", "gamma"}},
	{"active status with include archived", flagcache.Query{Status: flagcache.StatusActive, IncludeArchived: true}, []string{"alpha-1", "beta"}},
	{"environment production", flagcache.Query{Environment: "production"}, []string{"alpha-1", "beta"}},
	{"environment production with archived", flagcache.Query{Environment: "production", IncludeArchived: true}, []string{"alpha-1", "gamma", "beta"}},
	{"environment staging", flagcache.Query{Environment: "staging"}, []string{"alpha-1", "alpha-10"}},
	{"environment nobody defines", flagcache.Query{Environment: "dev"}, []string{}},
	{"one tag", flagcache.Query{Tags: []string{"checkout"}}, []string{"alpha-1"}},
	{"tags any of", flagcache.Query{Tags: []string{"checkout", "billing"}}, []string{"alpha-1", "beta"}},
	{"tag with archived", flagcache.Query{Tags: []string{"checkout"}, IncludeArchived: true}, []string{"alpha-1", "gamma"}},
	{"tag nobody has", flagcache.Query{Tags: []string{"nope"}}, []string{}},
	{"owner", flagcache.Query{Owner: "team-a"}, []string{"alpha-1", "beta"}},
	{"owner with archived", flagcache.Query{Owner: "team-b", IncludeArchived: true}, []string{"alpha-10", "delta"}},
	{"owner nobody is", flagcache.Query{Owner: "team-z"}, []string{}},
	{"status+environment+tag", flagcache.Query{Status: flagcache.StatusActive, Environment: "production", Tags: []string{"billing"}}, []string{"beta"}},
	{"owner+tag", flagcache.Query{Owner: "team-a", Tags: []string{"ui"}}, []string{"alpha-1"}},
	{"environment+owner with archived", flagcache.Query{Environment: "staging", Owner: "team-b", IncludeArchived: true}, []string{"alpha-10", "delta"}},
	{"archived status+tag", flagcache.Query{Status: flagcache.StatusArchived, Tags: []string{"ui"}}, []string{"delta"}},
	{"all filters, no match", flagcache.Query{Status: flagcache.StatusActive, Environment: "staging", Tags: []string{"billing"}, Owner: "team-a"}, []string{}},
}

func testListFilters(t *testing.T, s flagcache.Store) {
	seedQueryFixture(t, s)
	for _, tc := range queryTable {
		got := ids(mustList(t, s, tc.q))
		if !equalStrings(got, tc.want) {
			t.Errorf("%s: List got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testCountMatchesList(t *testing.T, s flagcache.Store) {
	seedQueryFixture(t, s)
	for _, tc := range queryTable {
		n, err := s.Count(ctxFor(t), tc.q)
		if err != nil {
			t.Fatalf("%s: Count: %v", tc.name, err)
		}
		if n != len(tc.want) {
			t.Errorf("%s: Count got %d, want %d", tc.name, n, len(tc.want))
		}
		// Count ignores paging.
		paged := tc.q
		paged.Offset, paged.Limit = 1, 1
		if m, err := s.Count(ctxFor(t), paged); err != nil || m != n {
			t.Errorf("%s: Count with offset/limit = %d, %v; want %d", tc.name, m, err, n)
		}
	}
}

func testPagination(t *testing.T, s flagcache.Store) {
	seedQueryFixture(t, s)
	all := []string{"alpha-1", "alpha-10", "delta", "gamma", "zulu", "beta"}
	for _, tc := range []struct {
		name          string
		offset, limit int
		want          []string
	}{
		{"limit 0 is no limit", 0, 0, all},
		{"limit 1", 0, 1, all[:1]},
		{"middle page", 2, 2, all[2:4]},
		{"last partial page", 5, 10, all[5:]},
		{"offset at end", 6, 0, []string{}},
		{"offset past end", 100, 5, []string{}},
		{"limit past end", 0, 100, all},
		{"offset without limit", 4, 0, all[4:]},
	} {
		q := flagcache.Query{IncludeArchived: true, Offset: tc.offset, Limit: tc.limit}
		if got := ids(mustList(t, s, q)); !equalStrings(got, tc.want) {
			t.Errorf("%s (offset %d limit %d): got %v, want %v", tc.name, tc.offset, tc.limit, got, tc.want)
		}
	}
	// Walking pages of 1 visits every flag once, in order.
	var walked []string
	for off := 0; ; off++ {
		page := mustList(t, s, flagcache.Query{IncludeArchived: true, Offset: off, Limit: 1})
		if len(page) == 0 {
			break
		}
		walked = append(walked, ids(page)...)
	}
	if !equalStrings(walked, all) {
		t.Errorf("paging by 1: got %v, want %v", walked, all)
	}
}

func testOrderByNameThenID(t *testing.T, s flagcache.Store) {
	for _, d := range []*flagcache.Definition{
		flag("m-2", "Same"), flag("m-10", "Same"), flag("b", "same"),
		flag("a", "Ähnlich"), flag("z", "Aardvark"), flag("Q", "Same"),
	} {
		mustCreate(t, s, d)
	}
	// Bytewise: "Aardvark" < "Same" < "same" < "Ähnlich"; ties by id: "Q" < "m-10" < "m-2".
	want := []string{"z", "Q", "m-10", "m-2", "b", "a"}
	if got := ids(mustList(t, s, flagcache.Query{})); !equalStrings(got, want) {
		t.Errorf("order: got %v, want %v", got, want)
	}
}

func testListEmpty(t *testing.T, s flagcache.Store) {
	if got := mustList(t, s, flagcache.Query{IncludeArchived: true}); len(got) != 0 {
		t.Errorf("List on empty store: got %v", ids(got))
	}
	if n, err := s.Count(ctxFor(t), flagcache.Query{}); err != nil || n != 0 {
		t.Errorf("Count on empty store = %d, %v", n, err)
	}
}

func testListDeletedLeftOut(t *testing.T, s flagcache.Store) {
	mustCreate(t, s, flag("keep", "Keep"))
	mustCreate(t, s, flag("gone", "Gone"))
	mustDelete(t, s, "gone", 0)
	q := flagcache.Query{IncludeArchived: true}
	if got := ids(mustList(t, s, q)); !equalStrings(got, []string{"keep"}) {
		t.Errorf("List after delete: got %v, want [keep]", got)
	}
	if n, err := s.Count(ctxFor(t), q); err != nil || n != 1 {
		t.Errorf("Count after delete = %d, %v; want 1", n, err)
	}
}
