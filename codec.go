package flagcache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The JSON codec of Definition and its parts. It serves a definition as
// stored, so it is built around what was decoded rather than around the Go
// fields:
//
//   - decoding records every member of every object in order, with its raw
//     bytes (a source), and never fails on a member of a type flagcache
//     does not model: the Go field stays zero and the member is marked odd;
//   - encoding walks the recorded members and writes each one back as it
//     was unless its Go field changed since; only known fields set in Go
//     and absent from the source are added, and an object whose fields all
//     still hold what was decoded is written as its original bytes.
//
// So a value read → modified → written keeps every member it did not touch,
// and one read and served is served byte for byte. Only syntax errors fail
// a decode; Validate refuses the odd members of a definition about to be
// written, so writes stay as strict as the model.

// member is one member of a decoded object.
type member struct {
	name     string
	raw      []byte // the value, a sub-slice of the decoded document
	odd      string // why raw is not of the modelled type, or ""
	known    int    // index in the type's field table, or -1
	shadowed bool   // a later member has the same name: it is the value
}

// source is the JSON a value was decoded from. A value that is not an
// object where one is modelled keeps only its bytes, with odd set; a null
// one keeps its bytes and no members.
type source struct {
	raw     []byte
	members []member
	odd     string
	present uint32 // bit i: field i of the type's table is a member
	unknown int    // members (not shadowed) kept in Extra
}

// defSource is a Definition's source with the values its fields decoded to.
type defSource struct {
	source
	// served is why a stored definition is not served as its bytes
	// (DecodeStored), or nil.
	served            *InvalidError
	id                ID
	name, description string
	kind              Kind
	status            Status
	defaultValue      []byte
	variations        []*varSource // nil unless the member was an array
	environments      map[string]*envSource
	envMembers        []member // of the environments object, in order
	metadata          *metaSource
}

// partSource is the source of a part with one modelled field (a
// variation's value, an environment's enabled) and the value it decoded.
type partSource[V any] struct {
	source
	decoded V
	// inline holds the members of the usual part (its field and maybe one
	// more), so decoding one is a single allocation.
	inline [2]member
}

type (
	varSource = partSource[[]byte]
	envSource = partSource[bool]
)

// newPartSource returns the source of a part about to be decoded, its
// members recorded in inline until there are more.
func newPartSource[V any]() *partSource[V] {
	s := &partSource[V]{}
	s.members = s.inline[:0]
	return s
}

// base is the source, or nil for a part built in Go.
func (s *partSource[V]) base() *source {
	if s == nil {
		return nil
	}
	return &s.source
}

// value is what the field decoded: the zero value for a part built in Go.
func (s *partSource[V]) value() V {
	if s == nil {
		var zero V
		return zero
	}
	return s.decoded
}

type metaSource struct {
	source
	tags                 []string
	owner                string
	createdAt, updatedAt time.Time
}

// Reasons a member is odd.
const (
	notString    = "not a string"
	notObject    = "not a JSON object"
	notArray     = "not a JSON array"
	notBool      = "not true or false"
	notTags      = "not an array of strings"
	notTimestamp = "not an RFC 3339 timestamp"
)

// field describes a modelled member of an object type T for the encoder:
// same reports whether the field still holds what the source decoded (the
// zero value when the member was absent), set whether it holds something
// worth writing, enc appends its current value.
type field[T any] struct {
	name string
	same func(*T) bool
	set  func(*T) bool
	enc  func([]byte, *T) []byte
}

func fieldIndex[T any](fields []field[T], name string) int {
	for i := range fields {
		if fields[i].name == name {
			return i
		}
	}
	return -1
}

// ---- Definition ----

var defFields = []field[Definition]{
	{"id",
		func(d *Definition) bool { return d.ID == d.source().id },
		func(d *Definition) bool { return d.ID != "" },
		func(b []byte, d *Definition) []byte { return appendString(b, string(d.ID)) }},
	{"name",
		func(d *Definition) bool { return d.Name == d.source().name },
		func(d *Definition) bool { return d.Name != "" },
		func(b []byte, d *Definition) []byte { return appendString(b, d.Name) }},
	{"description",
		func(d *Definition) bool { return d.Description == d.source().description },
		func(d *Definition) bool { return d.Description != "" },
		func(b []byte, d *Definition) []byte { return appendString(b, d.Description) }},
	{"kind",
		func(d *Definition) bool { return d.Kind == d.source().kind },
		func(d *Definition) bool { return d.Kind != "" },
		func(b []byte, d *Definition) []byte { return appendString(b, string(d.Kind)) }},
	{"default_value",
		func(d *Definition) bool { return sameRaw(d.DefaultValue, d.source().defaultValue) },
		func(d *Definition) bool { return len(d.DefaultValue) > 0 },
		func(b []byte, d *Definition) []byte { return appendRaw(b, d.DefaultValue) }},
	{"variations",
		func(d *Definition) bool { return d.sameVariations() },
		func(d *Definition) bool { return d.Variations != nil },
		func(b []byte, d *Definition) []byte {
			b = append(b, '[')
			for i := range d.Variations {
				if i > 0 {
					b = append(b, ',')
				}
				b = d.Variations[i].AppendJSON(b)
			}
			return append(b, ']')
		}},
	{"environments",
		func(d *Definition) bool { return d.sameEnvironments() },
		func(d *Definition) bool { return d.Environments != nil },
		func(b []byte, d *Definition) []byte { return d.appendEnvironments(b) }},
	{"status",
		func(d *Definition) bool { return d.Status == d.source().status },
		func(d *Definition) bool { return d.Status != "" },
		func(b []byte, d *Definition) []byte { return appendString(b, string(d.Status)) }},
	{"metadata",
		func(d *Definition) bool { return d.Metadata.src == d.source().metadata && d.Metadata.unchanged() },
		func(d *Definition) bool { return !d.Metadata.empty() },
		func(b []byte, d *Definition) []byte { return d.Metadata.AppendJSON(b) }},
}

// blank is the source of a value built in Go: no members, so every field
// set is written.
var blankDef = &defSource{}

func (d *Definition) source() *defSource {
	if d.src == nil {
		return blankDef
	}
	return d.src
}

// MarshalJSON encodes d as AppendJSON does. It never fails.
func (d Definition) MarshalJSON() ([]byte, error) {
	return d.AppendJSON(nil), nil
}

// AppendJSON appends the JSON of d to b: as decoded for every member whose
// field did not change, then the known fields set in Go, then the Extra
// members not in the source, by name. Unlike json.Marshal it neither
// escapes HTML nor checks the nesting of values kept as raw JSON.
func (d *Definition) AppendJSON(b []byte) []byte {
	src := d.src
	if src != nil && src.odd != "" && d.sameExceptID() {
		return append(b, src.raw...) // not an object: as stored, whatever the id
	}
	if src != nil && d.unchanged() {
		return append(b, src.raw...)
	}
	return encodeObject(b, d, &d.source().source, defFields, d.Extra, 0)
}

func (d *Definition) unchanged() bool {
	return defFields[0].same(d) && d.sameExceptID()
}

func (d *Definition) sameExceptID() bool {
	return sameFields(d, &d.source().source, defFields[1:], d.Extra)
}

func (d *Definition) sameVariations() bool {
	s := d.source().variations
	if (d.Variations == nil) != (s == nil) || len(d.Variations) != len(s) {
		return false
	}
	for i := range d.Variations {
		if d.Variations[i].src != s[i] || !d.Variations[i].unchanged() {
			return false
		}
	}
	return true
}

func (d *Definition) sameEnvironments() bool {
	s := d.source().environments
	if (d.Environments == nil) != (s == nil) || len(d.Environments) != len(s) {
		return false
	}
	for name, e := range d.Environments {
		if src, ok := s[name]; !ok || e.src != src || !e.unchanged() {
			return false
		}
	}
	return true
}

// appendEnvironments writes the environments in source order, then the new
// ones by name.
func (d *Definition) appendEnvironments(b []byte) []byte {
	b = append(b, '{')
	n := 0
	var done map[string]bool
	if ms := d.source().envMembers; ms != nil {
		done = make(map[string]bool, len(ms))
		for _, m := range ms {
			e, ok := d.Environments[m.name]
			if m.shadowed || !ok {
				continue
			}
			b = appendKey(b, n, m.name)
			b = e.AppendJSON(b)
			done[m.name] = true
			n++
		}
	}
	if len(done) < len(d.Environments) {
		names := make([]string, 0, len(d.Environments)-len(done))
		for name := range d.Environments {
			if !done[name] {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			e := d.Environments[name]
			b = appendKey(b, n, name)
			b = e.AppendJSON(b)
			n++
		}
	}
	return append(b, '}')
}

// UnmarshalJSON decodes a definition without failing on members of a type
// flagcache does not model (see Definition). Member names match exactly
// (a "Name" member is an unknown field, not the name).
func (d *Definition) UnmarshalJSON(b []byte) error {
	return d.decode(bytes.Clone(bytes.TrimSpace(b)))
}

// decode decodes b, which the definition keeps (its members are slices of b).
func (d *Definition) decode(b []byte) error {
	*d = Definition{}
	s := &defSource{}
	s.raw = b
	d.src = s
	if !isObject(b) {
		if !validValue(b) {
			return errSyntax
		}
		s.odd = notObject
		return nil
	}
	return decodeObject(b, &s.source, &d.Extra, defFields,
		func(i int, raw []byte, m *member) {
			switch defFields[i].name {
			case "id":
				m.odd = decodeString(raw, (*string)(&d.ID))
				s.id = d.ID
			case "name":
				m.odd = decodeString(raw, &d.Name)
				s.name = d.Name
			case "description":
				m.odd = decodeString(raw, &d.Description)
				s.description = d.Description
			case "kind":
				m.odd = decodeEnum(raw, (*string)(&d.Kind), kinds)
				s.kind = d.Kind
			case "status":
				m.odd = decodeEnum(raw, (*string)(&d.Status), statuses)
				s.status = d.Status
			case "default_value":
				d.DefaultValue = json.RawMessage(raw)
				s.defaultValue = raw
			case "variations":
				d.Variations, s.variations = nil, nil
				if isNull(raw) {
					return
				}
				if !isArray(raw) {
					m.odd = notArray
					return
				}
				d.Variations = make([]Variation, 0, countValues(raw))
				_ = eachElement(raw, func(raw []byte) error {
					var v Variation
					v.decode(raw)
					d.Variations = append(d.Variations, v)
					return nil
				})
				s.variations = make([]*varSource, len(d.Variations))
				for i := range d.Variations {
					s.variations[i] = d.Variations[i].src
				}
			case "environments":
				d.Environments, s.environments = nil, nil
				if isNull(raw) {
					return
				}
				if !isObject(raw) {
					m.odd = notObject
					return
				}
				n := countValues(raw)
				d.Environments = make(map[string]Environment, n)
				s.environments = make(map[string]*envSource, n)
				s.envMembers = make([]member, 0, n)
				_ = eachMember(raw, func(name string, raw []byte) error {
					if _, dup := d.Environments[name]; dup {
						shadow(s.envMembers, name)
					}
					s.envMembers = append(s.envMembers, member{name: name, raw: raw, known: -1})
					var e Environment
					e.decode(raw)
					d.Environments[name] = e
					s.environments[name] = e.src
					return nil
				})
			case "metadata":
				d.Metadata.decode(raw)
				s.metadata = d.Metadata.src
			}
		})
}

// ---- Variation ----

var varFields = []field[Variation]{
	{"value",
		func(v *Variation) bool { return sameRaw(v.Value, v.src.value()) },
		func(v *Variation) bool { return len(v.Value) > 0 },
		func(b []byte, v *Variation) []byte { return appendRaw(b, v.Value) }},
}

func (v *Variation) unchanged() bool { return samePart(v, v.src.base(), varFields, v.Extra) }

// MarshalJSON encodes v as AppendJSON does. It never fails.
func (v Variation) MarshalJSON() ([]byte, error) { return v.AppendJSON(nil), nil }

// AppendJSON appends the JSON of v to b, as Definition.AppendJSON does.
func (v *Variation) AppendJSON(b []byte) []byte {
	return appendPart(b, v, v.src.base(), varFields, v.Extra)
}

// UnmarshalJSON decodes a variation without failing on a value of another
// shape (see Definition).
func (v *Variation) UnmarshalJSON(b []byte) error {
	return decodePart(b, v.decode)
}

func (v *Variation) decode(b []byte) {
	*v = Variation{src: newPartSource[[]byte]()}
	decodeParts(b, &v.src.source, &v.Extra, varFields,
		func(_ int, raw []byte, _ *member) {
			v.Value = json.RawMessage(raw)
			v.src.decoded = raw
		})
}

// ---- Environment ----

var envFields = []field[Environment]{
	{"enabled",
		func(e *Environment) bool { return e.Enabled == e.src.value() },
		func(*Environment) bool { return true },
		func(b []byte, e *Environment) []byte { return strconv.AppendBool(b, e.Enabled) }},
}

func (e *Environment) unchanged() bool { return samePart(e, e.src.base(), envFields, e.Extra) }

// MarshalJSON encodes e as AppendJSON does. It never fails.
func (e Environment) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends the JSON of e to b, as Definition.AppendJSON does. An
// environment built in Go always says whether it is enabled; a decoded one
// only if it did or Enabled changed.
func (e *Environment) AppendJSON(b []byte) []byte {
	return appendPart(b, e, e.src.base(), envFields, e.Extra)
}

// UnmarshalJSON decodes an environment without failing on a value of
// another shape (see Definition).
func (e *Environment) UnmarshalJSON(b []byte) error {
	return decodePart(b, e.decode)
}

func (e *Environment) decode(b []byte) {
	*e = Environment{src: newPartSource[bool]()}
	decodeParts(b, &e.src.source, &e.Extra, envFields,
		func(_ int, raw []byte, m *member) {
			switch string(raw) {
			case "true":
				e.Enabled = true
			case "false", "null":
				e.Enabled = false
			default:
				e.Enabled = false
				m.odd = notBool
			}
			e.src.decoded = e.Enabled
		})
}

// blankSource is the source of a part built in Go: no members, so every
// field set is written.
var blankSource = &source{}

// samePart reports whether x, decoded from s (nil: built in Go), still
// holds what it was decoded from.
func samePart[T any](x *T, s *source, fields []field[T], extra map[string]json.RawMessage) bool {
	return s != nil && sameFields(x, s, fields, extra)
}

// sameFields reports whether every field of x still holds what s decoded,
// and extra exactly the unknown members of s.
func sameFields[T any](x *T, s *source, fields []field[T], extra map[string]json.RawMessage) bool {
	for i := range fields {
		if !fields[i].same(x) {
			return false
		}
	}
	return sameExtra(extra, s)
}

// appendPart appends x: as decoded from s while it holds what it was
// decoded from, else member by member (see encodeObject).
func appendPart[T any](b []byte, x *T, s *source, fields []field[T], extra map[string]json.RawMessage) []byte {
	if samePart(x, s, fields, extra) {
		return append(b, s.raw...)
	}
	if s == nil {
		s = blankSource
	}
	return encodeObject(b, x, s, fields, extra, 0)
}

// ---- Metadata ----

const (
	metaCreatedAt = 2 // indexes in metaFields
	metaUpdatedAt = 3
	stampedFields = 1<<metaCreatedAt | 1<<metaUpdatedAt
)

var metaFields = []field[Metadata]{
	{"tags",
		func(m *Metadata) bool {
			s := m.source().tags
			return (m.Tags == nil) == (s == nil) && slices.Equal(m.Tags, s)
		},
		func(m *Metadata) bool { return m.Tags != nil },
		func(b []byte, m *Metadata) []byte {
			b = append(b, '[')
			for i, t := range m.Tags {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, t)
			}
			return append(b, ']')
		}},
	{"owner",
		func(m *Metadata) bool { return m.Owner == m.source().owner },
		func(m *Metadata) bool { return m.Owner != "" },
		func(b []byte, m *Metadata) []byte { return appendString(b, m.Owner) }},
	{"created_at",
		func(m *Metadata) bool { return sameTime(m.CreatedAt, m.source().createdAt) },
		func(m *Metadata) bool { return !m.CreatedAt.IsZero() },
		func(b []byte, m *Metadata) []byte { return appendTime(b, m.CreatedAt) }},
	{"updated_at",
		func(m *Metadata) bool { return sameTime(m.UpdatedAt, m.source().updatedAt) },
		func(m *Metadata) bool { return !m.UpdatedAt.IsZero() },
		func(b []byte, m *Metadata) []byte { return appendTime(b, m.UpdatedAt) }},
}

var blankMeta = &metaSource{}

func (m *Metadata) source() *metaSource {
	if m.src == nil {
		return blankMeta
	}
	return m.src
}

// unchanged reports whether m holds what it was decoded from; for metadata
// built in Go, whether it is empty.
func (m *Metadata) unchanged() bool {
	if m.src == nil {
		return m.empty()
	}
	return !m.stamped && sameFields(m, &m.src.source, metaFields, m.Extra)
}

func (m *Metadata) empty() bool {
	return m.Tags == nil && m.Owner == "" && m.CreatedAt.IsZero() && m.UpdatedAt.IsZero() && len(m.Extra) == 0 &&
		(m.src == nil || m.src.raw == nil)
}

// MarshalJSON encodes m as AppendJSON does. It never fails.
func (m Metadata) MarshalJSON() ([]byte, error) { return m.AppendJSON(nil), nil }

// AppendJSON appends the JSON of m to b, as Definition.AppendJSON does.
// Timestamps a store has set (Definition.Stamp) are written where a new
// field goes, wherever the source had them.
func (m *Metadata) AppendJSON(b []byte) []byte {
	if m.src != nil && m.unchanged() {
		return append(b, m.src.raw...)
	}
	var forget uint32
	if m.stamped {
		forget = stampedFields
	}
	return encodeObject(b, m, &m.source().source, metaFields, m.Extra, forget)
}

// UnmarshalJSON decodes metadata without failing on members of a type
// flagcache does not model (see Definition).
func (m *Metadata) UnmarshalJSON(b []byte) error {
	return decodePart(b, m.decode)
}

func (m *Metadata) decode(b []byte) {
	*m = Metadata{}
	s := &metaSource{}
	m.src = s
	decodeParts(b, &s.source, &m.Extra, metaFields,
		func(i int, raw []byte, mb *member) {
			switch i {
			case 0:
				m.Tags, mb.odd = decodeTags(raw)
				s.tags = m.Tags
			case 1:
				mb.odd = decodeString(raw, &m.Owner)
				s.owner = m.Owner
			case metaCreatedAt:
				mb.odd = decodeTime(raw, &m.CreatedAt)
				s.createdAt = m.CreatedAt
			case metaUpdatedAt:
				mb.odd = decodeTime(raw, &m.UpdatedAt)
				s.updatedAt = m.UpdatedAt
			}
		})
}

// decodePart is the UnmarshalJSON of the parts of a definition.
func decodePart(b []byte, decode func([]byte)) error {
	b = bytes.Clone(bytes.TrimSpace(b))
	if !isObject(b) && !validValue(b) {
		return errSyntax
	}
	decode(b)
	return nil
}

// start records b as the source of a part and reports whether it is an
// object to decode; anything but an object or null is odd.
func (s *source) start(b []byte) bool {
	s.raw = b
	if !isObject(b) && !isNull(b) {
		s.odd = notObject
	}
	return isObject(b)
}

// ---- odd members ----

// oddMember returns an *InvalidError naming the first member of d, in
// document order, that is still as decoded and not of the type flagcache
// models; nil if there is none. storeOwned includes created_at and
// updated_at, which a store sets on every write.
func (d *Definition) oddMember(storeOwned bool) error {
	s := d.src
	if s == nil {
		return nil
	}
	if s.odd != "" {
		if d.sameExceptID() {
			return &InvalidError{Field: "definition", Reason: s.odd}
		}
		return nil
	}
	for _, m := range s.members {
		if m.shadowed || m.known < 0 {
			continue
		}
		if m.odd != "" {
			if defFields[m.known].same(d) {
				return &InvalidError{Field: m.name, Reason: m.odd}
			}
			continue
		}
		switch m.name {
		case "variations":
			for i := range d.Variations {
				if v := &d.Variations[i]; v.src != nil && v.src.odd != "" && v.unchanged() {
					return &InvalidError{Field: "variations[" + strconv.Itoa(i) + "]", Reason: v.src.odd}
				}
			}
		case "environments":
			for _, em := range s.envMembers {
				e, ok := d.Environments[em.name]
				if em.shadowed || !ok || e.src == nil || e.src != s.environments[em.name] {
					continue
				}
				if e.src.odd != "" && e.unchanged() {
					return &InvalidError{Field: "environments." + em.name, Reason: e.src.odd}
				}
				if err := oddIn(&e.src.source, "environments."+em.name+".", envFields, &e, 0); err != nil {
					return err
				}
			}
		case "metadata":
			md := &d.Metadata
			if md.src == nil || md.src != s.metadata {
				continue
			}
			if md.src.odd != "" && md.unchanged() {
				return &InvalidError{Field: "metadata", Reason: md.src.odd}
			}
			var skip uint32
			if !storeOwned || md.stamped {
				skip = stampedFields
			}
			if err := oddIn(&md.src.source, "metadata.", metaFields, md, skip); err != nil {
				return err
			}
		}
	}
	return nil
}

// oddIn returns the first odd member of s whose field still holds what it
// decoded, skipping the fields in skip.
func oddIn[T any](s *source, prefix string, fields []field[T], x *T, skip uint32) error {
	for _, m := range s.members {
		if m.odd != "" && !m.shadowed && m.known >= 0 && skip&(1<<m.known) == 0 && fields[m.known].same(x) {
			return &InvalidError{Field: prefix + m.name, Reason: m.odd}
		}
	}
	return nil
}

// malformed is why a stored definition would not be accepted as a write
// (timestamps aside, which the store sets), or "".
func malformed(d *Definition) string {
	if d == nil {
		return ""
	}
	if err := d.oddMember(true); err != nil {
		return err.Error()
	}
	if s := d.src; s != nil && s.served != nil && d.sameExceptID() {
		return s.served.Error()
	}
	if err := d.Validate(); err != nil {
		return err.Error()
	}
	return ""
}

// ---- shared machinery ----

// decodeObject records the members of the object b in s, hands the known
// ones (by their index in fields) to known, which may mark them odd, and
// keeps the others in *extra. A known member's name is its field's, so
// only unknown names allocate.
func decodeObject[T any](b []byte, s *source, extra *map[string]json.RawMessage, fields []field[T], known func(i int, raw []byte, m *member)) error {
	if s.members == nil {
		s.members = make([]member, 0, len(fields)+1)
	}
	return eachRawMember(b, func(quoted, raw []byte) error {
		name, i, err := knownMember(quoted, fields)
		if err != nil {
			return err
		}
		if i < 0 {
			if *extra == nil {
				*extra = make(map[string]json.RawMessage)
			}
			if _, dup := (*extra)[name]; dup {
				shadow(s.members, name)
			} else {
				s.unknown++
			}
			(*extra)[name] = json.RawMessage(raw)
			s.members = append(s.members, member{name: name, raw: raw, known: -1})
			return nil
		}
		if s.present&(1<<i) != 0 {
			shadow(s.members, name)
		}
		s.present |= 1 << i
		s.members = append(s.members, member{name: name, raw: raw, known: i})
		known(i, raw, &s.members[len(s.members)-1])
		return nil
	})
}

// knownMember returns the name of the quoted member name q and its index
// in fields (-1 if it names none); a name that needs no decoding and names
// a field is that field's name, not a new string.
func knownMember[T any](q []byte, fields []field[T]) (string, int, error) {
	if body := plainName(q); body != nil {
		for i := range fields {
			if string(body) == fields[i].name {
				return fields[i].name, i, nil
			}
		}
		return string(body), -1, nil
	}
	name, err := memberName(q)
	return name, fieldIndex(fields, name), err
}

// decodeParts decodes the object b, the source of a part of a definition
// (see source.start), as decodeObject does.
func decodeParts[T any](b []byte, s *source, extra *map[string]json.RawMessage, fields []field[T], known func(i int, raw []byte, m *member)) {
	if s.start(b) {
		_ = decodeObject(b, s, extra, fields, known)
	}
}

// shadow marks the earlier member called name as shadowed by a later one.
func shadow(members []member, name string) {
	for i := len(members) - 1; i >= 0; i-- {
		if members[i].name == name && !members[i].shadowed {
			members[i].shadowed = true
			return
		}
	}
}

// encodeObject writes x member by member: the source's members in order
// (unchanged ones as they were, changed ones anew, cleared ones left out,
// the known fields in forget skipped), each known field absent from the
// source but set now just before the first later known member, and last
// the Extra members the source did not have, by name.
func encodeObject[T any](b []byte, x *T, s *source, fields []field[T], extra map[string]json.RawMessage, forget uint32) []byte {
	b = append(b, '{')
	n := 0
	var done uint32
	present := s.present &^ forget
	isNew := func(j int) bool {
		if s.raw == nil || forget&(1<<j) != 0 {
			return fields[j].set(x)
		}
		return !fields[j].same(x) && fields[j].set(x)
	}
	addNew := func(upTo int) {
		for j := 0; j < upTo; j++ {
			bit := uint32(1) << j
			if done&bit == 0 && present&bit == 0 {
				done |= bit
				if isNew(j) {
					b = appendKey(b, n, fields[j].name)
					b = fields[j].enc(b, x)
					n++
				}
			}
		}
	}
	for i := range s.members {
		m := &s.members[i]
		if m.shadowed {
			continue
		}
		if m.known >= 0 {
			if forget&(1<<m.known) != 0 {
				continue
			}
			addNew(m.known)
			done |= 1 << m.known
			f := &fields[m.known]
			switch {
			case f.same(x):
				b = appendKey(b, n, m.name)
				b = append(b, m.raw...)
			case f.set(x):
				b = appendKey(b, n, m.name)
				b = f.enc(b, x)
			default:
				continue
			}
			n++
			continue
		}
		if v, ok := extra[m.name]; ok {
			b = appendKey(b, n, m.name)
			b = appendRaw(b, v)
			n++
		}
	}
	addNew(len(fields))
	if len(extra) > 0 {
		var names []string
		for name := range extra {
			if fieldIndex(fields, name) < 0 && !s.hasUnknown(name) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			b = appendKey(b, n, name)
			b = appendRaw(b, extra[name])
			n++
		}
	}
	return append(b, '}')
}

func (s *source) hasUnknown(name string) bool {
	for i := range s.members {
		if s.members[i].known < 0 && s.members[i].name == name {
			return true
		}
	}
	return false
}

// sameExtra reports whether extra holds exactly the unknown members of s.
func sameExtra(extra map[string]json.RawMessage, s *source) bool {
	if len(extra) != s.unknown {
		return false
	}
	for i := range s.members {
		m := &s.members[i]
		if m.known >= 0 || m.shadowed {
			continue
		}
		if v, ok := extra[m.name]; !ok || !bytes.Equal(v, m.raw) {
			return false
		}
	}
	return true
}

func sameRaw(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func sameTime(a, b time.Time) bool { return a.Equal(b) && a.IsZero() == b.IsZero() }

func appendKey(b []byte, n int, name string) []byte {
	if n > 0 {
		b = append(b, ',')
	}
	b = appendString(b, name)
	return append(b, ':')
}

// appendRaw appends a raw value; an empty one (never valid JSON) as null.
func appendRaw(b, raw []byte) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped (as encoding/json does; HTML characters are left alone).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeString decodes a JSON string (or null, which leaves dst empty);
// anything else leaves dst empty and is odd.
func decodeString(raw []byte, dst *string) string {
	*dst = ""
	n := len(raw)
	switch {
	case isNull(raw):
		return ""
	case n < 2 || raw[0] != '"':
		return notString
	case bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw):
		*dst = string(raw[1 : n-1])
		return ""
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		*dst = ""
		return notString
	}
	return ""
}

// The values of kind and status, which decodeEnum hands out without
// allocating a string for each flag.
var (
	kinds    = []string{string(KindBoolean), string(KindString), string(KindNumber), string(KindJSON)}
	statuses = []string{string(StatusInactive), string(StatusActive), string(StatusDeprecated), string(StatusArchived)}
)

// decodeEnum is decodeString for a member that usually holds one of
// values: a plain string equal to one is that value.
func decodeEnum(raw []byte, dst *string, values []string) string {
	if len(raw) >= 2 && raw[0] == '"' {
		for _, v := range values {
			if string(raw[1:len(raw)-1]) == v {
				*dst = v
				return ""
			}
		}
	}
	return decodeString(raw, dst)
}

func decodeTags(raw []byte) ([]string, string) {
	if isNull(raw) {
		return nil, ""
	}
	if !isArray(raw) {
		return nil, notTags
	}
	tags := make([]string, 0, countValues(raw))
	odd := ""
	_ = eachElement(raw, func(raw []byte) error {
		var t string
		if decodeString(raw, &t) != "" || isNull(raw) {
			odd = notTags
		}
		tags = append(tags, t)
		return nil
	})
	if odd != "" {
		return nil, odd
	}
	return tags, ""
}

func decodeTime(raw []byte, dst *time.Time) string {
	*dst = time.Time{}
	if isNull(raw) {
		return ""
	}
	if len(raw) < 2 || raw[0] != '"' || dst.UnmarshalJSON(raw) != nil {
		*dst = time.Time{}
		return notTimestamp
	}
	return ""
}

func isNull(b []byte) bool   { return string(b) == "null" }
func isObject(b []byte) bool { return len(b) > 0 && b[0] == '{' }
func isArray(b []byte) bool  { return len(b) > 0 && b[0] == '[' }

// validValue reports whether b is one JSON value that is not an object:
// json.Valid for scalars and arrays of ordinary depth; deeper arrays are
// taken as they come (they are only ever kept and written back).
func validValue(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0] == '[' {
		return wholeValue(b)
	}
	return json.Valid(b)
}

// wholeValue reports whether b is exactly one JSON value, as far as a scan
// of its structure tells: strings closed, brackets balanced and closed at
// the last byte. Scalars are checked in full; objects and arrays, whatever
// their depth, only in structure (their members are checked as decoded).
func wholeValue(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0] != '{' && b[0] != '[' {
		return json.Valid(b)
	}
	end, closed := scanValue(b, 0)
	return closed && end == len(b)
}

// decodeInvalid makes d the definition of bytes that are not JSON: a JSON
// string of them, odd.
func (d *Definition) decodeInvalid(raw []byte) {
	*d = Definition{src: &defSource{}}
	d.src.raw = appendString(nil, string(raw))
	d.src.odd = "not valid JSON (served as a string of its bytes)"
}

// ---- Stored and the change feed ----

// MarshalJSON encodes s as AppendJSON does. It never fails.
func (s Stored) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil), nil }

// AppendJSON appends the JSON of s to b: {"definition", "version", "etag",
// "revision"}, "malformed" when set, and "id" when the definition is not a
// JSON object (so does not carry it). Unlike json.Marshal it neither
// escapes HTML nor checks the nesting of the definition, so a definition
// served as stored is never refused on the way out.
func (s *Stored) AppendJSON(b []byte) []byte {
	b = append(b, `{"definition":`...)
	if s.Definition == nil {
		b = append(b, "null"...)
	} else {
		b = s.Definition.AppendJSON(b)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, s.Version, 10)
	b = append(b, `,"etag":`...)
	b = appendString(b, s.ETag)
	b = append(b, `,"revision":`...)
	b = strconv.AppendInt(b, s.Revision, 10)
	if s.Malformed != "" {
		b = append(b, `,"malformed":`...)
		b = appendString(b, s.Malformed)
	}
	if d := s.Definition; d != nil && d.src != nil && d.src.odd != "" {
		// A definition that is not an object cannot say its id.
		b = append(b, `,"id":`...)
		b = appendString(b, string(d.ID))
	}
	return append(b, '}')
}

// UnmarshalJSON decodes a Stored as AppendJSON writes it, the definition
// as Definition.UnmarshalJSON does. Called directly (not through
// json.Unmarshal, which stops at 10,000 levels) it takes any nesting.
func (s *Stored) UnmarshalJSON(b []byte) error {
	*s = Stored{}
	b = bytes.TrimSpace(b)
	if isNull(b) {
		return nil
	}
	if !isObject(b) || !wholeValue(b) {
		return errSyntax
	}
	var id string
	err := eachMember(b, func(name string, raw []byte) error {
		var err error
		switch name {
		case "id":
			if decodeString(raw, &id) != "" {
				err = errSyntax
			}
		case "definition":
			// null too: a definition another writer stored as null is a
			// flag, served as null (DecodeStored), not a Stored without
			// a definition.
			s.Definition = new(Definition)
			err = s.Definition.decode(bytes.Clone(raw))
		case "version":
			s.Version, err = strconv.ParseInt(string(raw), 10, 64)
		case "revision":
			s.Revision, err = strconv.ParseInt(string(raw), 10, 64)
		case "etag":
			if decodeString(raw, &s.ETag) != "" {
				err = errSyntax
			}
		case "malformed":
			if decodeString(raw, &s.Malformed) != "" {
				err = errSyntax
			}
		}
		if err != nil {
			return fmt.Errorf("stored flag: %s: %w", name, err)
		}
		return nil
	})
	if s.Definition != nil && s.Definition.ID == "" {
		s.Definition.ID = ID(id)
	}
	return err
}

// AppendJSON appends the JSON of c to b, its flag as Stored.AppendJSON
// writes it.
func (c *Change) AppendJSON(b []byte) []byte {
	b = append(b, `{"revision":`...)
	b = strconv.AppendInt(b, c.Revision, 10)
	b = append(b, `,"op":`...)
	b = appendString(b, string(c.Op))
	b = append(b, `,"id":`...)
	b = appendString(b, string(c.ID))
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, c.Version, 10)
	if c.Actor != "" {
		b = append(b, `,"actor":`...)
		b = appendString(b, c.Actor)
	}
	if c.Flag != nil {
		b = append(b, `,"flag":`...)
		b = c.Flag.AppendJSON(b)
	}
	return append(b, '}')
}

// UnmarshalJSON decodes a Change, its flag as Stored.UnmarshalJSON does.
func (c *Change) UnmarshalJSON(b []byte) error {
	*c = Change{}
	b = bytes.TrimSpace(b)
	if !isObject(b) || !wholeValue(b) {
		return errSyntax
	}
	return eachMember(b, func(name string, raw []byte) error {
		var err error
		switch name {
		case "revision":
			c.Revision, err = strconv.ParseInt(string(raw), 10, 64)
		case "version":
			c.Version, err = strconv.ParseInt(string(raw), 10, 64)
		case "op":
			if decodeString(raw, (*string)(&c.Op)) != "" {
				err = errSyntax
			}
		case "id":
			if decodeString(raw, (*string)(&c.ID)) != "" {
				err = errSyntax
			}
		case "actor":
			if decodeString(raw, &c.Actor) != "" {
				err = errSyntax
			}
		case "flag":
			if !isNull(raw) {
				c.Flag = new(Stored)
				err = c.Flag.UnmarshalJSON(raw)
			}
		}
		if err != nil {
			return fmt.Errorf("change: %s: %w", name, err)
		}
		return nil
	})
}

// AppendJSON appends the JSON of f to b: {"changes": […], "revision"}.
func (f *ChangeFeed) AppendJSON(b []byte) []byte {
	b = append(b, `{"changes":[`...)
	for i := range f.Changes {
		if i > 0 {
			b = append(b, ',')
		}
		b = f.Changes[i].AppendJSON(b)
	}
	b = append(b, `],"revision":`...)
	b = strconv.AppendInt(b, f.Revision, 10)
	return append(b, '}')
}

// UnmarshalJSON decodes a ChangeFeed, each change as Change.UnmarshalJSON
// does.
func (f *ChangeFeed) UnmarshalJSON(b []byte) error {
	*f = ChangeFeed{}
	b = bytes.TrimSpace(b)
	if !isObject(b) || !wholeValue(b) {
		return errSyntax
	}
	return eachMember(b, func(name string, raw []byte) error {
		var err error
		switch name {
		case "changes":
			f.Changes = []Change{}
			err = EachElement(raw, func(raw []byte) error {
				var c Change
				err := c.UnmarshalJSON(raw)
				f.Changes = append(f.Changes, c)
				return err
			})
		case "revision":
			f.Revision, err = strconv.ParseInt(string(raw), 10, 64)
		}
		return err
	})
}

// EachMember calls fn with the name and raw value of every member of the
// JSON object b (null is an empty object), and EachElement with every
// element of the array b: the scanner of the codec, for decoders of bodies
// that hold definitions of any nesting (encoding/json stops at 10,000
// levels). b must be valid JSON (see Stored.UnmarshalJSON).
func EachMember(b []byte, fn func(name string, raw []byte) error) error {
	if b = bytes.TrimSpace(b); !wholeValue(b) {
		return errSyntax
	}
	return eachMember(b, fn)
}

// EachElement: see EachMember.
func EachElement(b []byte, fn func(raw []byte) error) error {
	if b = bytes.TrimSpace(b); !wholeValue(b) {
		return errSyntax
	}
	return eachElement(b, fn)
}

// AppendStoredList appends a JSON array of flags, each as Stored.AppendJSON
// writes it.
func AppendStoredList(b []byte, flags []*Stored) []byte {
	b = append(b, '[')
	for i, f := range flags {
		if i > 0 {
			b = append(b, ',')
		}
		b = f.AppendJSON(b)
	}
	return append(b, ']')
}

// CompactJSON returns the JSON text b without the whitespace between its
// tokens, whatever its nesting (json.Compact stops at 10,000 levels). A
// store that hands back reformatted text (Postgres prints jsonb with a
// space after every colon and comma) compacts it before DecodeStored.
func CompactJSON(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			end := skipString(b, i)
			out = append(out, b[i:end]...)
			i = end - 1
		default:
			out = append(out, c)
		}
	}
	return out
}
