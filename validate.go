package flagcache

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest valid flag name in bytes.
const MaxNameLen = 256

// MaxDepth is the deepest a definition nests, its own object counted as
// level 1 (so default_value's own object is level 2, a variation's value
// object level 4). Every response wrapper and the Redis envelope add a few
// levels; this keeps all of them far below encoding/json's 10,000.
const MaxDepth = 64

// MaxNumberLen is the longest JSON number literal a definition may hold.
// With "finite float64" it keeps every backend's number type (Postgres'
// jsonb numeric) able to store what the others store.
const MaxNumberLen = 256

// The known members of each object of a definition: an unknown member
// whose name case-folds to one of them is refused, because encoding/json
// (case-insensitive, last wins) would read it as the known field.
var (
	knownTop         = []string{"id", "name", "description", "kind", "default_value", "variations", "environments", "status", "metadata"}
	knownMetadata    = []string{"tags", "owner", "created_at", "updated_at"}
	knownVariation   = []string{"value"}
	knownEnvironment = []string{"enabled"}
)

// Validate checks a definition before it is written. It returns an
// *InvalidError naming the first bad field. Definitions read back from a
// store are never validated: another writer's data is served as stored.
func (d *Definition) Validate() error {
	if d == nil {
		return Invalid("definition", "required")
	}
	if err := d.oddMember(false); err != nil { // a member of a type flagcache does not model (codec.go)
		return err
	}
	if err := d.ID.Validate(); err != nil {
		return err
	}
	switch {
	case d.Name == "":
		return Invalid("name", "required")
	case len(d.Name) > MaxNameLen:
		return Invalid("name", "longer than %d bytes", MaxNameLen)
	}
	if err := checkText("name", d.Name); err != nil {
		return err
	}
	if err := checkText("description", d.Description); err != nil {
		return err
	}
	if !d.Kind.Valid() {
		if d.Kind == "" {
			return Invalid("kind", "required: one of boolean, string, number, json")
		}
		return Invalid("kind", "%q is not one of boolean, string, number, json", truncate(string(d.Kind), 32))
	}
	if len(d.DefaultValue) == 0 {
		return Invalid("default_value", "required")
	}
	if err := checkValue("default_value", d.Kind, d.DefaultValue, 1); err != nil {
		return err
	}
	if err := checkExtra("", d.Extra, knownTop, 1); err != nil {
		return err
	}
	for i, v := range d.Variations {
		field := "variations[" + strconv.Itoa(i) + "]"
		if len(v.Value) == 0 {
			return Invalid(field+".value", "required")
		}
		if err := checkValue(field+".value", d.Kind, v.Value, 3); err != nil {
			return err
		}
		if err := checkExtra(field+".", v.Extra, knownVariation, 3); err != nil {
			return err
		}
	}
	if d.Status != "" && !d.Status.Valid() {
		return Invalid("status", "%q is not one of inactive, active, deprecated, archived", truncate(string(d.Status), 32))
	}
	for name := range d.Environments {
		if !ValidEnvironment(name) {
			return Invalid("environments", "%q is not a valid environment name: use [a-z0-9][a-z0-9_-]{0,63}", truncate(name, 80))
		}
		if err := checkExtra("environments."+name+".", d.Environments[name].Extra, knownEnvironment, 3); err != nil {
			return err
		}
	}
	for _, t := range d.Metadata.Tags {
		if t == "" {
			return Invalid("metadata.tags", "tags must be non-empty UTF-8 strings")
		}
		if err := checkText("metadata.tags", t); err != nil {
			return err
		}
	}
	if err := checkText("metadata.owner", d.Metadata.Owner); err != nil {
		return err
	}
	return checkExtra("metadata.", d.Metadata.Extra, knownMetadata, 2)
}

// checkText refuses a string field that is not valid UTF-8 or holds NUL,
// which no backend can store alike (Postgres text refuses both).
func checkText(field, s string) error {
	switch {
	case !utf8.ValidString(s):
		return Invalid(field, "not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return Invalid(field, "contains NUL (\\u0000)")
	}
	return nil
}

// checkExtra checks the unknown members of one object of a definition:
// names that are text, none that case-folds to a known member, and values
// that pass checkJSON at depth base (the object's own level).
func checkExtra(prefix string, extra map[string]json.RawMessage, known []string, base int) error {
	for name, raw := range extra {
		field := prefix + truncate(name, 64)
		if err := checkText(field, name); err != nil {
			return err
		}
		for _, k := range known {
			if strings.EqualFold(name, k) {
				return Invalid(field, "%q differs from the field %q only in case: decoders that fold case would read it as that field", truncate(name, 64), k)
			}
		}
		if !json.Valid(raw) {
			return Invalid(field, "not valid JSON")
		}
		if err := checkJSON(field, raw, base); err != nil {
			return err
		}
	}
	return nil
}

// checkJSON walks raw, a valid JSON value inside an object at level base,
// and refuses what the backends cannot store alike: nesting beyond
// MaxDepth, strings (and member names) with NUL, lone surrogates or
// invalid UTF-8, and numbers that are not finite float64 or are longer
// than MaxNumberLen.
func checkJSON(field string, raw []byte, base int) error {
	depth := base
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '{' || c == '[':
			if depth++; depth > MaxDepth {
				return Invalid(field, "nested deeper than %d levels", MaxDepth)
			}
			i++
		case c == '}' || c == ']':
			depth--
			i++
		case c == '"':
			end, err := checkString(raw, i)
			if err != nil {
				return Invalid(field, "%s", err)
			}
			i = end
		case c == '-' || (c >= '0' && c <= '9'):
			end := i + 1
			for end < len(raw) && strings.IndexByte("0123456789+-.eE", raw[end]) >= 0 {
				end++
			}
			if err := checkNumber(raw[i:end]); err != nil {
				return Invalid(field, "%s", err)
			}
			i = end
		default: // white space, ',', ':', true, false, null
			i++
		}
	}
	return nil
}

type reason string

func (r reason) Error() string { return string(r) }

// checkString checks the JSON string whose quote is at raw[i] and returns
// the index after it.
func checkString(raw []byte, i int) (int, error) {
	start := i + 1
	for i = start; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			if !utf8.Valid(raw[start:i]) {
				return 0, reason("a string is not valid UTF-8")
			}
			return i + 1, nil
		case '\\':
			i++
			if i >= len(raw) || raw[i] != 'u' {
				continue
			}
			r := hex4(raw, i+1)
			i += 4
			switch {
			case r == 0:
				return 0, reason("a string contains NUL (\\u0000)")
			case r >= 0xDC00 && r <= 0xDFFF:
				return 0, reason("a string contains a lone surrogate")
			case r >= 0xD800 && r <= 0xDBFF:
				if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
					return 0, reason("a string contains a lone surrogate")
				}
				if lo := hex4(raw, i+3); lo < 0xDC00 || lo > 0xDFFF {
					return 0, reason("a string contains a lone surrogate")
				}
				i += 6
			}
		}
	}
	return len(raw), nil
}

// hex4 decodes the four hex digits at raw[i:] (valid JSON has them).
func hex4(raw []byte, i int) rune {
	if i+4 > len(raw) {
		return -1
	}
	n, err := strconv.ParseUint(string(raw[i:i+4]), 16, 32)
	if err != nil {
		return -1
	}
	return rune(n)
}

// checkNumber refuses a number literal that is too long, overflows
// float64, or underflows it to zero although it is not zero.
func checkNumber(lit []byte) error {
	if len(lit) > MaxNumberLen {
		return reason("a number is longer than " + strconv.Itoa(MaxNumberLen) + " characters")
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return reason("a number is not a finite 64-bit float")
	}
	if f == 0 {
		mantissa, _, _ := bytes.Cut(bytes.ToLower(lit), []byte("e"))
		if bytes.ContainsAny(mantissa, "123456789") {
			return reason("a number is too small for a 64-bit float")
		}
	}
	return nil
}

// CheckVersion returns an *InvalidError for a negative expected version
// (0 means unconditional).
func CheckVersion(expected int64) error {
	if expected < 0 {
		return Invalid("expected_version", "must not be negative")
	}
	return nil
}

// CheckCursor returns an *InvalidError for a negative Changes cursor or
// limit.
func CheckCursor(after int64, limit int) error {
	if after < 0 {
		return Invalid("after", "must not be negative")
	}
	if limit < 0 {
		return Invalid("limit", "must not be negative")
	}
	return nil
}

// PrepareWrite is the start of every store's Create and Update: it fails
// with ctx's error, or an *InvalidError for a negative expected version, a
// definition that does not validate or a bad actor attached to ctx, before
// anything is written, and otherwise returns def.forWrite() and the actor
// the write records (WriteActor). Create passes expectedVersion 0.
func PrepareWrite(ctx context.Context, def *Definition, expectedVersion int64) (_ *Definition, actor string, err error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if err := CheckVersion(expectedVersion); err != nil {
		return nil, "", err
	}
	if err := def.Validate(); err != nil {
		return nil, "", err
	}
	if actor, err = WriteActor(ctx); err != nil {
		return nil, "", err
	}
	return def.forWrite(), actor, nil
}

// PrepareDelete is the start of every store's Delete: it fails with ctx's
// error, or an *InvalidError for a bad id, a negative expected version or
// a bad actor attached to ctx, before anything is written, and otherwise
// returns the actor the delete records (WriteActor).
func PrepareDelete(ctx context.Context, id ID, expectedVersion int64) (actor string, err error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := id.Validate(); err != nil {
		return "", err
	}
	if err := CheckVersion(expectedVersion); err != nil {
		return "", err
	}
	return WriteActor(ctx)
}

// forWrite returns the copy of a validated definition that a store stamps
// and keeps — the caller's stays untouched — with a missing status set to
// StatusInactive.
func (d *Definition) forWrite() *Definition {
	c := d.Clone()
	if c.Status == "" {
		c.Status = StatusInactive
	}
	return c
}

// ValidEnvironment reports whether name is a valid environment name:
// [a-z0-9][a-z0-9_-]{0,63}.
func ValidEnvironment(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// checkValue reports whether raw is a JSON value of kind k that passes
// checkJSON at level base.
func checkValue(field string, k Kind, raw json.RawMessage, base int) error {
	raw = bytes.TrimSpace(raw)
	if !json.Valid(raw) {
		return Invalid(field, "not valid JSON")
	}
	if err := checkJSON(field, raw, base); err != nil {
		return err
	}
	ok := true
	switch k {
	case KindBoolean:
		ok = bytes.Equal(raw, []byte("true")) || bytes.Equal(raw, []byte("false"))
	case KindString:
		ok = raw[0] == '"'
	case KindNumber:
		ok = raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')
	case KindJSON:
		ok = !bytes.Equal(raw, []byte("null"))
	}
	if !ok {
		return Invalid(field, "must be a %s value", k)
	}
	return nil
}
