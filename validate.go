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

// MaxNameLen is the longest valid flag name, owner and tag in bytes. The
// owner and the tags are index keys of some backend (Postgres' btree on
// owner holds about 2,700 bytes, bbolt's keys 32 KiB): one bound for all
// keeps every backend storing what the others store.
const MaxNameLen = 256

// MaxDepth is the deepest a definition nests, its own object counted as
// level 1 (so default_value's own object is level 2, a variation's value
// object level 4). Every response wrapper and the Redis envelope add a few
// levels; this keeps all of them far below encoding/json's 10,000.
const MaxDepth = 64

// MaxNumberLen is the most characters a number of a definition takes,
// both as written and written out without an exponent, which is how
// Postgres' jsonb gives it back (1e308 as 309 digits): so what any backend
// returns validates as it was accepted, and a read → write round trip is
// never refused. With "finite float64" it keeps every backend's number
// type (jsonb's numeric) able to store what the others store. Every
// float64 fits in its shortest form (the longest written out,
// -4.9406564584124654e-324, takes 343).
const MaxNumberLen = 400

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
	if err := checkValue("default_value", d.Kind, d.DefaultValue); err != nil {
		return err
	}
	if err := checkExtra("", d.Extra, knownTop); err != nil {
		return err
	}
	for i, v := range d.Variations {
		field := "variations[" + strconv.Itoa(i) + "]"
		if len(v.Value) == 0 {
			return Invalid(field+".value", "required")
		}
		if err := checkValue(field+".value", d.Kind, v.Value); err != nil {
			return err
		}
		if err := checkExtra(field+".", v.Extra, knownVariation); err != nil {
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
		if err := checkExtra("environments."+name+".", d.Environments[name].Extra, knownEnvironment); err != nil {
			return err
		}
	}
	for _, t := range d.Metadata.Tags {
		switch {
		case t == "":
			return Invalid("metadata.tags", "tags must be non-empty UTF-8 strings")
		case len(t) > MaxNameLen:
			return Invalid("metadata.tags", "a tag is longer than %d bytes", MaxNameLen)
		}
		if err := checkText("metadata.tags", t); err != nil {
			return err
		}
	}
	if len(d.Metadata.Owner) > MaxNameLen {
		return Invalid("metadata.owner", "longer than %d bytes", MaxNameLen)
	}
	if err := checkText("metadata.owner", d.Metadata.Owner); err != nil {
		return err
	}
	if err := checkExtra("metadata.", d.Metadata.Extra, knownMetadata); err != nil {
		return err
	}
	return checkDocument(d.encoded())
}

// encoded is the JSON a store writes for d (AppendJSON), without a copy
// when d still holds what it was decoded from.
func (d *Definition) encoded() []byte {
	if d.src != nil && d.src.odd == "" && d.unchanged() {
		return d.src.raw
	}
	return d.AppendJSON(nil)
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
// that are JSON (checkDocument checks what is inside them).
func checkExtra(prefix string, extra map[string]json.RawMessage, known []string) error {
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
	}
	return nil
}

// checkDocument walks doc, the JSON a store writes for a definition, and
// refuses what the backends cannot store alike, in every value and member
// name: nesting beyond MaxDepth; strings with NUL, lone surrogates or
// invalid UTF-8; numbers that are not finite float64 or are longer than
// MaxNumberLen; a member name given twice in one object (bbolt and Redis
// keep both, Postgres' jsonb keeps the last, and decoders differ on which
// one wins or refuse the document). These are the rules of I-JSON (RFC
// 7493) and no NUL. It walks the document rather than the Go fields
// because a decoded definition is written as it was sent: its strings'
// escapes and bytes, not what they decoded to. The error names the member
// of a modelled object (the definition, its metadata, an environment, a
// variation) that holds the fault.
func checkDocument(doc []byte) error {
	w := docWalker{doc: doc}
	w.path = w.pathBuf[:0]
	w.names = w.nameBuf[:0]
	end, err := w.value(0, 0, shapeDefinition)
	if err == nil && skipSpace(doc, end) != len(doc) {
		err = w.syntax()
	}
	return err
}

// shape is what a value of a definition is to the model: an object whose
// members name their own faults, or a value whose faults name the member
// holding it.
type shape uint8

const (
	shapeValue shape = iota
	shapeDefinition
	shapeMetadata
	shapeEnvironments
	shapeEnvironment
	shapeVariations
	shapeVariation
)

// member is the shape of the member name of an object of shape s.
func (s shape) member(name []byte) shape {
	switch s {
	case shapeDefinition:
		switch string(name) {
		case "metadata":
			return shapeMetadata
		case "environments":
			return shapeEnvironments
		case "variations":
			return shapeVariations
		}
	case shapeEnvironments:
		return shapeEnvironment
	}
	return shapeValue
}

type docWalker struct {
	doc   []byte
	path  []segment // the modelled members around the value being walked
	names [][]byte  // member names of the objects being walked, innermost last

	pathBuf [4]segment
	nameBuf [32][]byte
}

// segment is a member's name, or an array element's index (name nil).
type segment struct {
	name  []byte
	index int
}

// field names the value being walked: its modelled members, joined.
func (w *docWalker) field() string {
	var b []byte
	for _, s := range w.path {
		switch {
		case s.name == nil:
			b = strconv.AppendInt(append(b, '['), int64(s.index), 10)
			b = append(b, ']')
		case len(b) > 0:
			b = append(append(b, '.'), truncate(string(s.name), 64)...)
		default:
			b = append(b, truncate(string(s.name), 64)...)
		}
	}
	if len(b) == 0 {
		return "definition"
	}
	return string(b)
}

func (w *docWalker) fault(format string, args ...any) error {
	return Invalid(w.field(), format, args...)
}

func (w *docWalker) syntax() error { return Invalid("definition", "not valid JSON") }

// value walks the value at doc[i] (after white space), inside a container
// at depth (0 for the definition itself), and returns the index after it.
func (w *docWalker) value(i, depth int, s shape) (int, error) {
	doc := w.doc
	i = skipSpace(doc, i)
	if i >= len(doc) {
		return 0, w.syntax()
	}
	switch c := doc[i]; {
	case c == '{' || c == '[':
		if depth+1 > MaxDepth {
			return 0, w.fault("nested deeper than %d levels", MaxDepth)
		}
		if c == '[' {
			return w.array(i, depth+1, s)
		}
		return w.object(i, depth+1, s)
	case c == '"':
		end, err := checkString(doc, i)
		if err != nil {
			return 0, w.fault("%s", err)
		}
		return end, nil
	case c == '-' || (c >= '0' && c <= '9'):
		end := i + 1
		for end < len(doc) && strings.IndexByte("0123456789+-.eE", doc[end]) >= 0 {
			end++
		}
		if err := checkNumber(doc[i:end]); err != nil {
			return 0, w.fault("%s", err)
		}
		return end, nil
	}
	end := i // true, false, null
	for end < len(doc) && doc[end] >= 'a' && doc[end] <= 'z' {
		end++
	}
	if end == i {
		return 0, w.syntax()
	}
	return end, nil
}

func (w *docWalker) object(i, depth int, s shape) (int, error) {
	doc, first := w.doc, len(w.names)
	var seen map[string]bool // for objects of many members
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(doc) || doc[i] != '"' {
			return 0, w.syntax()
		}
		end, err := checkString(doc, i)
		if err != nil {
			end = skipString(doc, i)
		}
		if end-i < 2 || doc[end-1] != '"' {
			return 0, w.syntax()
		}
		name := plainName(doc[i:end])
		if name == nil {
			decoded, _ := memberName(doc[i:end])
			name = []byte(decoded)
		}
		if s != shapeValue {
			w.path = append(w.path, segment{name: name})
		}
		if err != nil {
			return 0, w.fault("a member name: %s", err)
		}
		if w.repeated(first, name, &seen) {
			return 0, w.fault("the member %q is given twice", truncate(string(name), 64))
		}
		if i = skipSpace(doc, end); i >= len(doc) || doc[i] != ':' {
			return 0, w.syntax()
		}
		if i, err = w.value(i+1, depth, s.member(name)); err != nil {
			return 0, err
		}
		if s != shapeValue {
			w.path = w.path[:len(w.path)-1]
		}
		switch i = skipSpace(doc, i); {
		case i < len(doc) && doc[i] == ',':
			i = skipSpace(doc, i+1)
		case i < len(doc) && doc[i] == '}':
			w.names = w.names[:first]
			return i + 1, nil
		default:
			return 0, w.syntax()
		}
	}
}

// repeated reports whether name is among the names of the object whose
// first name is w.names[first], and adds it; past 16 names it keeps them
// in *seen, so an object of many members costs no quadratic time.
func (w *docWalker) repeated(first int, name []byte, seen *map[string]bool) bool {
	names := w.names[first:]
	if *seen == nil && len(names) < 16 {
		for _, n := range names {
			if bytes.Equal(n, name) {
				return true
			}
		}
		w.names = append(w.names, name)
		return false
	}
	if *seen == nil {
		*seen = make(map[string]bool, 2*len(names))
		for _, n := range names {
			(*seen)[string(n)] = true
		}
	}
	if (*seen)[string(name)] {
		return true
	}
	(*seen)[string(name)] = true
	return false
}

func (w *docWalker) array(i, depth int, s shape) (int, error) {
	doc := w.doc
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == ']' {
		return i + 1, nil
	}
	elem := shapeValue
	if s == shapeVariations {
		elem = shapeVariation
	}
	for n := 0; ; n++ {
		if elem != shapeValue {
			w.path = append(w.path, segment{index: n})
		}
		var err error
		if i, err = w.value(i, depth, elem); err != nil {
			return 0, err
		}
		if elem != shapeValue {
			w.path = w.path[:len(w.path)-1]
		}
		switch i = skipSpace(doc, i); {
		case i < len(doc) && doc[i] == ',':
			i++
		case i < len(doc) && doc[i] == ']':
			return i + 1, nil
		default:
			return 0, w.syntax()
		}
	}
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

// checkNumber refuses a number literal that is too long as written or
// written out (plainLen), overflows float64, or underflows it to zero
// although it is not zero.
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
	if plainLen(lit) > MaxNumberLen {
		return reason("a number is longer than " + strconv.Itoa(MaxNumberLen) + " characters written out without an exponent, as Postgres returns it")
	}
	return nil
}

// plainLen bounds the length of the number literal lit written out without
// an exponent, as Postgres' numeric writes it: the sign, the integer digits
// shifted by the exponent (at least one), and the point and fraction
// digits, if any (leading zeros counted: a bound, not the exact length).
func plainLen(lit []byte) int {
	mantissa, exponent := lit, 0
	if i := bytes.IndexAny(lit, "eE"); i >= 0 {
		e, err := strconv.Atoi(string(lit[i+1:]))
		if err != nil || e > MaxNumberLen || e < -MaxNumberLen {
			return math.MaxInt
		}
		mantissa, exponent = lit[:i], e
	}
	n := 0
	if len(mantissa) > 0 && mantissa[0] == '-' {
		n, mantissa = 1, mantissa[1:]
	}
	whole, fraction, _ := bytes.Cut(mantissa, []byte("."))
	n += max(len(whole)+exponent, 1)
	if digits := len(fraction) - exponent; digits > 0 {
		n += 1 + digits
	}
	return n
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

// checkValue reports whether raw is a JSON value of kind k (checkDocument
// checks what is inside it).
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
