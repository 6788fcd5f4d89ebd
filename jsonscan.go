package flagcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"unicode/utf8"
)

// A small scanner over JSON that is already known to be valid: it splits
// objects into members and arrays into elements as sub-slices of the input,
// so decoding a definition walks its bytes a few times instead of the dozen
// times nested encoding/json calls would, and allocates only for the
// values it keeps.

var errSyntax = errors.New("flagcache: malformed JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string whose quote is at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isSpace(b[i]) {
		i++
	}
	return i
}

// eachMember calls fn with the name and raw value of every member of the
// object b (null is an empty object).
func eachMember(b []byte, fn func(name string, raw []byte) error) error {
	i := skipSpace(b, 0)
	if bytes.HasPrefix(b[i:], []byte("null")) {
		return nil
	}
	if i >= len(b) || b[i] != '{' {
		return wrongType(b[i:], reflect.TypeFor[map[string]any]())
	}
	for i = skipSpace(b, i+1); i < len(b) && b[i] != '}'; {
		if b[i] != '"' {
			return errSyntax
		}
		end := skipString(b, i)
		var name string
		if bytes.IndexByte(b[i:end], '\\') >= 0 || !utf8.Valid(b[i:end]) {
			if err := json.Unmarshal(b[i:end], &name); err != nil {
				return err
			}
		} else {
			name = string(b[i+1 : end-1])
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errSyntax
		}
		start := skipSpace(b, i+1)
		end = skipValue(b, start)
		if err := fn(name, b[start:end]); err != nil {
			return err
		}
		if i = skipSpace(b, end); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil
}

// wrongType reports a value of another JSON type than want, the way
// encoding/json does.
func wrongType(b []byte, want reflect.Type) error {
	value := "number"
	if len(b) > 0 {
		switch b[0] {
		case '{':
			value = "object"
		case '[':
			value = "array"
		case '"':
			value = "string"
		case 't', 'f':
			value = "bool"
		}
	}
	return &json.UnmarshalTypeError{Value: value, Type: want}
}

// eachElement calls fn with every element of the array b (null is empty).
func eachElement(b []byte, fn func(raw []byte) error) error {
	i := skipSpace(b, 0)
	if bytes.HasPrefix(b[i:], []byte("null")) {
		return nil
	}
	if i >= len(b) || b[i] != '[' {
		return wrongType(b[i:], reflect.TypeFor[[]any]())
	}
	for i = skipSpace(b, i+1); i < len(b) && b[i] != ']'; {
		end := skipValue(b, i)
		if err := fn(b[i:end]); err != nil {
			return err
		}
		if i = skipSpace(b, end); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil
}
