package flagcache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
	"unicode/utf8"
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

// The alias types drop the methods, so encoding/json encodes the known
// fields and MarshalJSON only appends Extra.
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

// UnmarshalJSON decodes the known members into their fields and keeps
// the others in Extra. Member names match exactly (a "Name" member is an
// unknown field, not the name).
func (d *Definition) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return errSyntax
	}
	return d.decode(b)
}

func (d *Definition) decode(b []byte) error {
	*d = Definition{}
	return decodeObject(b, &d.Extra, func(name string, raw []byte) (bool, error) {
		switch name {
		case "id":
			return true, decodeString(raw, (*string)(&d.ID))
		case "name":
			return true, decodeString(raw, &d.Name)
		case "description":
			return true, decodeString(raw, &d.Description)
		case "kind":
			return true, decodeString(raw, (*string)(&d.Kind))
		case "status":
			return true, decodeString(raw, (*string)(&d.Status))
		case "default_value":
			d.DefaultValue = cloneRaw(raw)
			return true, nil
		case "variations":
			return true, eachElement(raw, func(raw []byte) error {
				var v Variation
				err := v.decode(raw)
				d.Variations = append(d.Variations, v)
				return err
			})
		case "environments":
			return true, eachMember(raw, func(name string, raw []byte) error {
				if d.Environments == nil {
					d.Environments = make(map[string]Environment)
				}
				var e Environment
				err := e.decode(raw)
				d.Environments[name] = e
				return err
			})
		case "metadata":
			return true, d.Metadata.decode(raw)
		}
		return false, nil
	})
}

func (v Variation) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*variationJSON)(&v), v.Extra)
}

func (v *Variation) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return errSyntax
	}
	return v.decode(b)
}

func (v *Variation) decode(b []byte) error {
	*v = Variation{}
	return decodeObject(b, &v.Extra, func(name string, raw []byte) (bool, error) {
		if name == "value" {
			v.Value = cloneRaw(raw)
			return true, nil
		}
		return false, nil
	})
}

func (e Environment) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*environmentJSON)(&e), e.Extra)
}

func (e *Environment) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return errSyntax
	}
	return e.decode(b)
}

func (e *Environment) decode(b []byte) error {
	*e = Environment{}
	return decodeObject(b, &e.Extra, func(name string, raw []byte) (bool, error) {
		if name != "enabled" {
			return false, nil
		}
		switch string(raw) {
		case "true":
			e.Enabled = true
		case "false", "null":
		default:
			return true, &json.UnmarshalTypeError{Value: string(raw), Field: "enabled", Type: reflect.TypeFor[bool]()}
		}
		return true, nil
	})
}

func (m Metadata) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*metadataJSON)(&m), m.Extra)
}

func (m *Metadata) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return errSyntax
	}
	return m.decode(b)
}

func (m *Metadata) decode(b []byte) error {
	*m = Metadata{}
	return decodeObject(b, &m.Extra, func(name string, raw []byte) (bool, error) {
		switch name {
		case "tags":
			return true, eachElement(raw, func(raw []byte) error {
				var t string
				err := decodeString(raw, &t)
				m.Tags = append(m.Tags, t)
				return err
			})
		case "owner":
			return true, decodeString(raw, &m.Owner)
		case "created_at":
			return true, decodeTime(raw, &m.CreatedAt)
		case "updated_at":
			return true, decodeTime(raw, &m.UpdatedAt)
		}
		return false, nil
	})
}

// decodeObject hands each member of the object b to known and collects
// the ones known does not take into *extra. A JSON null is an empty object.
func decodeObject(b []byte, extra *map[string]json.RawMessage, known func(string, []byte) (bool, error)) error {
	return eachMember(b, func(name string, raw []byte) error {
		ok, err := known(name, raw)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !ok {
			if *extra == nil {
				*extra = make(map[string]json.RawMessage)
			}
			(*extra)[name] = cloneRaw(raw)
		}
		return nil
	})
}

// decodeString decodes a JSON string (or null), without encoding/json's
// machinery when it holds no escapes.
func decodeString(raw []byte, dst *string) error {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		*dst = string(raw[1 : n-1])
		return nil
	}
	return json.Unmarshal(raw, dst)
}

func decodeTime(raw []byte, dst *time.Time) error {
	if string(raw) == "null" {
		return nil
	}
	return dst.UnmarshalJSON(raw)
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
