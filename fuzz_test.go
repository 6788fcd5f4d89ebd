package flagcache_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/flagcache/flagcache"
)

// idGrammar is the documented id grammar, written apart from validateID so
// the two can disagree.
var idGrammar = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// FuzzIDValidate: Validate never panics, and accepts exactly the ids of the
// documented grammar that are 1–256 bytes long. A rejection names the field.
func FuzzIDValidate(f *testing.F) {
	for _, s := range []string{
		"a", "new-checkout", "Team_A:flag.v2-x", "9lives", strings.Repeat("a", 256), strings.Repeat("a", 257),
		"", "-leading", ".hidden", "..", "a/b", "a b", "*", "prefix:*", "{x}", "a{tag}b", "a\r\nb", "a\x00b",
		"drapeau-é", "\xff", "a\n", "%0D%0A", "a?b", "a#b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := flagcache.ID(s).Validate()
		want := len(s) >= 1 && len(s) <= flagcache.MaxIDLen && idGrammar.MatchString(s)
		if (err == nil) != want {
			t.Fatalf("ID(%q).Validate() = %v; the grammar says ok=%v", s, err, want)
		}
		if err != nil && !strings.Contains(err.Error(), "id") {
			t.Fatalf("ID(%q).Validate() = %q does not name the field", s, err)
		}
	})
}

// FuzzParseETag: ParseETag never panics; a tag it accepts names a version
// of at least 1 and is exactly the tag ETag makes of that version (weak or
// strong), so a tag never names two versions and a version has one tag.
func FuzzParseETag(f *testing.F) {
	for _, s := range []string{
		`"v1"`, `"v123"`, `W/"v7"`, `v1`, `"1"`, `"v0"`, `"v-1"`, `"vx"`, `*`, ``, `"v"`, `W/`, `W/""`,
		`"v9223372036854775807"`, `"v9223372036854775808"`, `"v+3"`, `"v03"`, `"v 3"`, `"v3" `, `W/W/"v1"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := flagcache.ParseETag(s)
		if err != nil {
			if v != 0 {
				t.Fatalf("ParseETag(%q) = %d with error %v, want 0", s, v, err)
			}
			return
		}
		if v < 1 {
			t.Fatalf("ParseETag(%q) = %d, want a version of at least 1", s, v)
		}
		tag := flagcache.ETag(v)
		if strings.TrimPrefix(s, "W/") != tag {
			t.Fatalf("ParseETag(%q) = %d, whose tag is %s: two tags name one version", s, v, tag)
		}
		if back, err := flagcache.ParseETag(tag); err != nil || back != v {
			t.Fatalf("ParseETag(ETag(%d)) = %d, %v", v, back, err)
		}
	})
}
