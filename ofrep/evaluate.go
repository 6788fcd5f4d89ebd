package ofrep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/flagcache/flagcache"
)

// Reasons and error codes of an Evaluation (OpenFeature's names).
const (
	ReasonStatic   = "STATIC"
	ReasonDisabled = "DISABLED"

	CodeFlagNotFound   = "FLAG_NOT_FOUND"
	CodeParseError     = "PARSE_ERROR"
	CodeInvalidContext = "INVALID_CONTEXT"
	CodeGeneral        = "GENERAL"
)

// Evaluation is the answer for one flag in one environment: a success
// (Reason set, ErrorCode empty) or a failure (ErrorCode set).
type Evaluation struct {
	Key string
	// Reason is ReasonStatic (Value holds the flag's default_value) or
	// ReasonDisabled (no Value: the caller uses its code default).
	Reason string
	// Kind is the flag's kind; Value is its default_value decoded: a
	// bool, a string, an int64 (a number that is integral and fits), a
	// float64, or a map[string]any (a json flag). Nil without a value.
	Kind  flagcache.Kind
	Value any
	// Variant is the key of the variation whose value is the one served,
	// when that variation has a key.
	Variant string
	// ErrorCode and ErrorDetails describe a failure.
	ErrorCode    string
	ErrorDetails string
	// Metadata describes the flag that was found: version, revision,
	// status, environment, owner (when set), stale (true only when the
	// source could not be reached and a cache answered).
	Metadata map[string]any

	raw json.RawMessage // Value as OFREP serves it
}

// JSON returns Value as OFREP serves it (nil without a value). Do not
// modify it.
func (e *Evaluation) JSON() json.RawMessage { return e.raw }

// Failed reports whether e is a failure.
func (e *Evaluation) Failed() bool { return e.ErrorCode != "" }

// Evaluate maps the flag s (nil: missing or deleted) to its answer in
// environment env. stale says the read was served by a cache while the
// source was down. Evaluate does not modify s.
//
// The mapping (docs/ofrep.md):
//   - nil, status archived, or no environments[env]: FLAG_NOT_FOUND;
//   - environments[env].enabled false: DISABLED, no value;
//   - an enabled environment with fields beyond "enabled" (rules,
//     rollouts): GENERAL, "not evaluated by flagcache";
//   - a default_value that is not of the flag's kind (null included), a
//     json value that is not an object, a kind flagcache does not know,
//     or (another writer's row) an environment that is not an object or
//     whose enabled is not true or false: PARSE_ERROR;
//   - otherwise STATIC with default_value, and the matching variation's
//     key as the variant.
func Evaluate(key string, s *flagcache.Stored, env string, stale bool) *Evaluation {
	e := &Evaluation{Key: key}
	if s == nil {
		return e.fail(CodeFlagNotFound, "flag %q does not exist", key)
	}
	def := s.Definition
	if def == nil {
		return e.fail(CodeParseError, "flag %q is stored without a definition", key)
	}
	if def.Status == flagcache.StatusArchived {
		return e.fail(CodeFlagNotFound, "flag %q is archived", key)
	}
	cfg, ok := def.Environments[env]
	if !ok {
		return e.fail(CodeFlagNotFound, "flag %q is not defined in environment %q", key, env)
	}
	e.Kind = def.Kind
	e.Metadata = metadata(s, env, stale)
	if s.Malformed != "" {
		// Another writer's row: an environment or an enabled of another
		// type than modelled decodes as disabled, which it does not say.
		if err := checkEnvironment(&cfg); err != nil {
			return e.fail(CodeParseError, "environment %q of flag %q: %v", env, key, err)
		}
	}
	if !cfg.Enabled {
		e.Reason = ReasonDisabled
		return e
	}
	if len(cfg.Extra) > 0 {
		return e.fail(CodeGeneral, "environment %q of flag %q has fields beyond \"enabled\" (%s): not evaluated by flagcache",
			env, key, fieldNames(cfg.Extra))
	}
	v, raw, err := decodeValue(def.Kind, def.DefaultValue)
	if err != nil {
		return e.fail(CodeParseError, "flag %q: %v", key, err)
	}
	e.Reason, e.Value, e.raw = ReasonStatic, v, raw
	e.Variant = variant(def)
	return e
}

func (e *Evaluation) fail(code, format string, args ...any) *Evaluation {
	e.ErrorCode, e.ErrorDetails = code, fmt.Sprintf(format, args...)
	e.Reason, e.Value, e.raw, e.Variant = "", nil, nil, ""
	return e
}

func metadata(s *flagcache.Stored, env string, stale bool) map[string]any {
	status := s.Definition.Status
	if status == "" {
		status = flagcache.StatusInactive
	}
	md := map[string]any{
		"version":     s.Version,
		"revision":    s.Revision,
		"status":      string(status),
		"environment": env,
	}
	if s.Definition.Metadata.Owner != "" {
		md["owner"] = s.Definition.Metadata.Owner
	}
	if stale {
		md["stale"] = true
	}
	return md
}

// checkEnvironment refuses an environment's config that is neither an
// object nor null, or whose enabled is neither true, false nor null (a
// write stores null and absent as disabled).
func checkEnvironment(cfg *flagcache.Environment) error {
	raw := cfg.AppendJSON(nil)
	if string(raw) == "null" {
		return nil
	}
	if raw[0] != '{' {
		return fmt.Errorf("%s is not a JSON object", clip(raw))
	}
	var enabled []byte
	err := flagcache.EachMember(raw, func(name string, raw []byte) error {
		if name == "enabled" {
			enabled = raw // the last one is the value
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case enabled == nil, string(enabled) == "true", string(enabled) == "false", string(enabled) == "null":
		return nil
	}
	return fmt.Errorf("enabled %s is not true or false", clip(enabled))
}

// decodeValue checks raw against kind and returns it decoded and in the
// form OFREP serves: an integral number as an integer.
func decodeValue(kind flagcache.Kind, raw json.RawMessage) (any, json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil, fmt.Errorf("no default_value")
	}
	switch kind {
	case flagcache.KindBoolean:
		var b bool
		if raw[0] != 't' && raw[0] != 'f' || json.Unmarshal(raw, &b) != nil { // null would decode as false
			return nil, nil, fmt.Errorf("default_value %s is not a boolean", clip(raw))
		}
		return b, raw, nil
	case flagcache.KindString:
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, nil, fmt.Errorf("default_value %s is not a string", clip(raw))
		}
		return s, raw, nil
	case flagcache.KindNumber:
		var f float64
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') || json.Unmarshal(raw, &f) != nil || math.IsInf(f, 0) || math.IsNaN(f) { // null would decode as 0
			return nil, nil, fmt.Errorf("default_value %s is not a number", clip(raw))
		}
		// 2^63 is the first float64 above the int64 range.
		if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
			n := int64(f)
			return n, strconv.AppendInt(nil, n, 10), nil
		}
		return f, strconv.AppendFloat(nil, f, 'g', -1, 64), nil
	case flagcache.KindJSON:
		if raw[0] != '{' {
			return nil, nil, fmt.Errorf("default_value %s of a json flag is not an object: OFREP serves only objects", clip(raw))
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, fmt.Errorf("default_value is not valid JSON: %v", err)
		}
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil {
			return nil, nil, fmt.Errorf("default_value is not valid JSON")
		}
		return m, buf.Bytes(), nil
	case "":
		return nil, nil, fmt.Errorf("the flag has no kind")
	}
	return nil, nil, fmt.Errorf("kind %q is not one flagcache serves", clip([]byte(kind)))
}

// variant returns the key of the first variation whose value equals the
// default value, when it has a string key.
func variant(def *flagcache.Definition) string {
	if len(def.Variations) == 0 {
		return ""
	}
	var want any
	if json.Unmarshal(def.DefaultValue, &want) != nil {
		return ""
	}
	for _, v := range def.Variations {
		var got any
		if json.Unmarshal(v.Value, &got) != nil || !reflect.DeepEqual(got, want) {
			continue
		}
		var key string
		if json.Unmarshal(v.Extra["key"], &key) == nil {
			return key
		}
		return ""
	}
	return ""
}

func fieldNames(m map[string]json.RawMessage) string {
	var b []byte
	n := 0
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if n == 3 {
			b = append(b, ", …"...)
			break
		}
		if n > 0 {
			b = append(b, ", "...)
		}
		b = append(b, clip([]byte(name))...)
		n++
	}
	return string(b)
}

// clip shortens what goes into an error message: stored data can be big.
func clip(b []byte) string {
	if len(b) > 64 {
		b = append(b[:61:61], "..."...)
	}
	return strings.ToValidUTF8(string(b), "?")
}
