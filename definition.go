package flagcache

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// Kind is the type of a flag's values.
type Kind string

// The kinds a flag can have.
const (
	KindBoolean Kind = "boolean"
	KindString  Kind = "string"
	KindNumber  Kind = "number"
	KindJSON    Kind = "json"
)

// Status is a flag's lifecycle state.
type Status string

// The statuses a flag can have. A write without a status stores
// StatusInactive.
const (
	StatusInactive   Status = "inactive"
	StatusActive     Status = "active"
	StatusDeprecated Status = "deprecated"
	StatusArchived   Status = "archived"
)

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusInactive, StatusActive, StatusDeprecated, StatusArchived:
		return true
	}
	return false
}

// Valid reports whether k is one of the four kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindBoolean, KindString, KindNumber, KindJSON:
		return true
	}
	return false
}

// Definition is a flag definition as JSON carries it, served as stored
// (see codec.go):
//
//   - Every member of the JSON a definition was decoded from is written
//     back as it was — empty strings, empty arrays and objects and nulls
//     included — unless its Go field was changed; nothing absent is added
//     but the fields set in Go. Members this type does not know (at the top
//     level, in metadata, in environments and variations) are kept in
//     Extra, so a read → modify → write round trip never drops or alters
//     another writer's data.
//   - Decoding never fails on a member of a type flagcache does not model
//     (a name that is a number, tags that are a string, an environment
//     that is not an object…): the Go field stays zero, the member is
//     written back as it was, Validate refuses it and a Stored built from
//     it says so in Malformed.
//
// A definition built in Go (not decoded) writes the fields that are set,
// and each environment's enabled.
type Definition struct {
	ID           ID
	Name         string
	Description  string
	Kind         Kind
	DefaultValue json.RawMessage
	Variations   []Variation
	Environments map[string]Environment
	Status       Status
	Metadata     Metadata

	// Extra holds unknown top-level fields, keyed by name.
	Extra map[string]json.RawMessage

	src *defSource // what it was decoded from; shared by clones, never modified
}

// Variation is one value a flag can serve.
type Variation struct {
	Value json.RawMessage
	Extra map[string]json.RawMessage

	src *varSource
}

// Environment is a flag's configuration in one environment. Fields beyond
// Enabled (targeting rules, rollouts) are kept as given in Extra.
type Environment struct {
	Enabled bool
	Extra   map[string]json.RawMessage

	src *envSource
}

// Metadata is bookkeeping. The store, not the caller, sets CreatedAt and
// UpdatedAt (UTC, microsecond precision).
type Metadata struct {
	Tags      []string
	Owner     string
	CreatedAt time.Time
	UpdatedAt time.Time
	Extra     map[string]json.RawMessage

	src     *metaSource
	stamped bool // Stamp set the timestamps: written where new fields go
}

// NewBoolean returns a valid boolean flag definition with variations true and
// false, status inactive. It fails only if id or name is invalid.
func NewBoolean(id ID, name string, defaultValue bool) (*Definition, error) {
	d := &Definition{
		ID:           id,
		Name:         name,
		Kind:         KindBoolean,
		DefaultValue: json.RawMessage("false"),
		Variations:   []Variation{{Value: json.RawMessage("true")}, {Value: json.RawMessage("false")}},
		Status:       StatusInactive,
	}
	if defaultValue {
		d.DefaultValue = json.RawMessage("true")
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Clone returns a deep copy of d.
func (d *Definition) Clone() *Definition {
	if d == nil {
		return nil
	}
	c := *d // the sources are shared: nothing modifies them
	c.DefaultValue = bytes.Clone(d.DefaultValue)
	c.Extra = cloneExtra(d.Extra)
	if d.Variations != nil {
		c.Variations = make([]Variation, len(d.Variations))
		for i, v := range d.Variations {
			c.Variations[i] = Variation{Value: bytes.Clone(v.Value), Extra: cloneExtra(v.Extra), src: v.src}
		}
	}
	if d.Environments != nil {
		c.Environments = make(map[string]Environment, len(d.Environments))
		for k, e := range d.Environments {
			c.Environments[k] = Environment{Enabled: e.Enabled, Extra: cloneExtra(e.Extra), src: e.src}
		}
	}
	c.Metadata.Tags = slices.Clone(d.Metadata.Tags)
	c.Metadata.Extra = cloneExtra(d.Metadata.Extra)
	return &c
}

func cloneExtra(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	c := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		c[k] = bytes.Clone(v)
	}
	return c
}

// HasTag reports whether the definition carries tag.
func (d *Definition) HasTag(tag string) bool {
	for _, t := range d.Metadata.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// Stamp sets the store-owned timestamps for a write at now: UpdatedAt always,
// CreatedAt to created (the creation time of the flag, now on create; also
// now when created is zero, for a stored flag whose created_at was missing
// or not a timestamp). Both are UTC truncated to microseconds, and both are
// written where a field new to the definition goes (see codec.go), wherever
// the definition had them.
func (d *Definition) Stamp(created, now time.Time) {
	if created.IsZero() {
		created = now
	}
	d.Metadata.CreatedAt = Timestamp(created)
	d.Metadata.UpdatedAt = Timestamp(now)
	d.Metadata.stamped = true
}

// Timestamp normalises t the way stores keep it: UTC, truncated to
// microseconds, so every backend round-trips the same value.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
