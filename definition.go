package flagcache

import (
	"bytes"
	"encoding/json"
	"strings"
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

// Definition is a flag definition as JSON carries it. Fields this type does
// not know (at the top level, in metadata, in environments and variations)
// are kept in Extra and written back unchanged, so a read → modify → write
// round trip never drops another writer's data.
//
// Known fields that are absent in the JSON stay zero and are omitted again
// when encoding, so a definition stored by another writer is served as
// stored.
type Definition struct {
	ID           ID                     `json:"id"`
	Name         string                 `json:"name,omitempty"`
	Description  string                 `json:"description,omitempty"`
	Kind         Kind                   `json:"kind,omitempty"`
	DefaultValue json.RawMessage        `json:"default_value,omitempty"`
	Variations   []Variation            `json:"variations,omitempty"`
	Environments map[string]Environment `json:"environments,omitempty"`
	Status       Status                 `json:"status,omitempty"`
	Metadata     Metadata               `json:"metadata"`

	// Extra holds unknown top-level fields, keyed by name.
	Extra map[string]json.RawMessage `json:"-"`
}

// Variation is one value a flag can serve.
type Variation struct {
	Value json.RawMessage            `json:"value,omitempty"`
	Extra map[string]json.RawMessage `json:"-"`
}

// Environment is a flag's configuration in one environment. Fields beyond
// Enabled (targeting rules, rollouts) are kept as given in Extra.
type Environment struct {
	Enabled bool                       `json:"enabled"`
	Extra   map[string]json.RawMessage `json:"-"`
}

// Metadata is bookkeeping. The store, not the caller, sets CreatedAt and
// UpdatedAt (UTC, microsecond precision).
type Metadata struct {
	Tags      []string                   `json:"tags,omitempty"`
	Owner     string                     `json:"owner,omitempty"`
	CreatedAt time.Time                  `json:"created_at,omitzero"`
	UpdatedAt time.Time                  `json:"updated_at,omitzero"`
	Extra     map[string]json.RawMessage `json:"-"`
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
	c := *d
	c.DefaultValue = cloneRaw(d.DefaultValue)
	c.Extra = cloneExtra(d.Extra)
	if d.Variations != nil {
		c.Variations = make([]Variation, len(d.Variations))
		for i, v := range d.Variations {
			c.Variations[i] = Variation{Value: cloneRaw(v.Value), Extra: cloneExtra(v.Extra)}
		}
	}
	if d.Environments != nil {
		c.Environments = make(map[string]Environment, len(d.Environments))
		for k, e := range d.Environments {
			c.Environments[k] = Environment{Enabled: e.Enabled, Extra: cloneExtra(e.Extra)}
		}
	}
	if d.Metadata.Tags != nil {
		c.Metadata.Tags = append([]string(nil), d.Metadata.Tags...)
	}
	c.Metadata.Extra = cloneExtra(d.Metadata.Extra)
	return &c
}

func cloneRaw(r json.RawMessage) json.RawMessage {
	if r == nil {
		return nil
	}
	return append(json.RawMessage(nil), r...)
}

func cloneExtra(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	c := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		c[k] = cloneRaw(v)
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
// CreatedAt to created (the creation time of the flag, now on create).
// Both are UTC truncated to microseconds.
func (d *Definition) Stamp(created, now time.Time) {
	d.Metadata.CreatedAt = Timestamp(created)
	d.Metadata.UpdatedAt = Timestamp(now)
}

// Timestamp normalises t the way stores keep it: UTC, truncated to
// microseconds, so every backend round-trips the same value.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Known field names, per object, for splitting unknown ones off.
var (
	definitionFields  = []string{"id", "name", "description", "kind", "default_value", "variations", "environments", "status", "metadata"}
	variationFields   = []string{"value"}
	environmentFields = []string{"enabled"}
	metadataFields    = []string{"tags", "owner", "created_at", "updated_at"}
)

// The alias types drop the methods, so encoding/json handles the known
// fields and the methods below only merge Extra in and out.
type (
	definitionJSON  Definition
	variationJSON   Variation
	environmentJSON Environment
	metadataJSON    Metadata
)

// MarshalJSON encodes the known fields followed by Extra.
func (d Definition) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*definitionJSON)(&d), d.Extra)
}

// UnmarshalJSON decodes the known fields and keeps the others in Extra.
func (d *Definition) UnmarshalJSON(b []byte) error {
	*d = Definition{}
	extra, err := unmarshalWithExtra(b, (*definitionJSON)(d), definitionFields)
	d.Extra = extra
	return err
}

func (v Variation) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*variationJSON)(&v), v.Extra)
}

func (v *Variation) UnmarshalJSON(b []byte) error {
	*v = Variation{}
	extra, err := unmarshalWithExtra(b, (*variationJSON)(v), variationFields)
	v.Extra = extra
	return err
}

func (e Environment) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*environmentJSON)(&e), e.Extra)
}

func (e *Environment) UnmarshalJSON(b []byte) error {
	*e = Environment{}
	extra, err := unmarshalWithExtra(b, (*environmentJSON)(e), environmentFields)
	e.Extra = extra
	return err
}

func (m Metadata) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*metadataJSON)(&m), m.Extra)
}

func (m *Metadata) UnmarshalJSON(b []byte) error {
	*m = Metadata{}
	extra, err := unmarshalWithExtra(b, (*metadataJSON)(m), metadataFields)
	m.Extra = extra
	return err
}

// marshalWithExtra encodes known (a struct without MarshalJSON) and appends
// the extra members in key order.
func marshalWithExtra(known any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(known)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	more, err := json.Marshal(extra) // sorted keys
	if err != nil {
		return nil, err
	}
	// b is "{...}", more is "{...}": splice them.
	var buf bytes.Buffer
	buf.Grow(len(b) + len(more))
	buf.Write(b[:len(b)-1])
	if len(b) > 2 {
		buf.WriteByte(',')
	}
	buf.Write(more[1:])
	return buf.Bytes(), nil
}

// unmarshalWithExtra decodes b into known and returns the members whose
// names are not in fields. Known names are skipped from the result.
func unmarshalWithExtra(b []byte, known any, fields []string) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(b, known); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	// encoding/json matches names case-insensitively, so a member such
	// as "Name" was consumed as a known field: it is not extra.
	for k := range all {
		for _, f := range fields {
			if strings.EqualFold(k, f) {
				delete(all, k)
				break
			}
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}
