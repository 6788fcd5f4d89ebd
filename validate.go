package flagcache

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// MaxNameLen is the longest valid flag name in bytes.
const MaxNameLen = 256

// Validate checks a definition before it is written. It returns an
// *InvalidError naming the first bad field. Definitions read back from a
// store are never validated: another writer's data is served as stored.
func (d *Definition) Validate() error {
	if d == nil {
		return Invalid("definition", "required")
	}
	if err := d.ID.Validate(); err != nil {
		return err
	}
	switch {
	case d.Name == "":
		return Invalid("name", "required")
	case len(d.Name) > MaxNameLen:
		return Invalid("name", "longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(d.Name):
		return Invalid("name", "not valid UTF-8")
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
	if err := checkValue("default_value", d.Kind, d.DefaultValue); err != nil {
		return err
	}
	for i, v := range d.Variations {
		if len(v.Value) == 0 {
			return Invalid("variations["+strconv.Itoa(i)+"].value", "required")
		}
		if err := checkValue("variations["+strconv.Itoa(i)+"].value", d.Kind, v.Value); err != nil {
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
	}
	for _, t := range d.Metadata.Tags {
		if t == "" || !utf8.ValidString(t) {
			return Invalid("metadata.tags", "tags must be non-empty UTF-8 strings")
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
// with ctx's error, or an *InvalidError for a negative expected version or
// a definition that does not validate, before anything is written, and
// otherwise returns def.forWrite(). Create passes expectedVersion 0.
func PrepareWrite(ctx context.Context, def *Definition, expectedVersion int64) (*Definition, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckVersion(expectedVersion); err != nil {
		return nil, err
	}
	if err := def.Validate(); err != nil {
		return nil, err
	}
	return def.forWrite(), nil
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

// checkValue reports whether raw is a JSON value of kind k.
func checkValue(field string, k Kind, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if !json.Valid(raw) {
		return Invalid(field, "not valid JSON")
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
