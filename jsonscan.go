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
	end, _ := scanString(b, i)
	return end
}

// scanString is skipString that also tells whether the string is closed.
func scanString(b []byte, i int) (end int, closed bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return len(b), false
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	end, _ := scanValue(b, i)
	return end
}

// scanValue returns the index after the value starting at b[i], and
// whether it is closed: a string by its quote, an object or array by its
// bracket (at any depth, strings inside skipped). Scalars are not checked.
func scanValue(b []byte, i int) (end int, closed bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return scanString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, closed := scanString(b, i)
				if !closed {
					return end, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isSpace(b[i]) {
		i++
	}
	return i, true
}

// countValues returns how many elements the array b, or members the
// object b, holds (0 for anything else), so a decoder can size what it
// fills in one allocation: one pass over b's bytes, cheaper than growing.
func countValues(b []byte) int {
	if len(b) < 2 || (b[0] != '[' && b[0] != '{') {
		return 0
	}
	i := skipSpace(b, 1)
	if i >= len(b) || b[i] == ']' || b[i] == '}' {
		return 0
	}
	n, depth := 1, 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = skipString(b, i) - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth < 0 {
				return n
			}
		case ',':
			if depth == 0 {
				n++
			}
		}
	}
	return n
}

// container returns the index after the opening bracket of the object or
// array b (open is '{' or '['); null is an empty one (ok false).
func container(b []byte, open byte, want reflect.Type) (i int, ok bool, err error) {
	i = skipSpace(b, 0)
	if bytes.HasPrefix(b[i:], []byte("null")) {
		return i, false, nil
	}
	if i >= len(b) || b[i] != open {
		return i, false, wrongType(b[i:], want)
	}
	return skipSpace(b, i+1), true, nil
}

// next returns the index of what follows the value ending at b[end]: past
// a comma, if any, and the white space around it.
func next(b []byte, end int) int {
	i := skipSpace(b, end)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	return i
}

// eachMember calls fn with the name and raw value of every member of the
// object b (null is an empty object).
func eachMember(b []byte, fn func(name string, raw []byte) error) error {
	return eachRawMember(b, func(quoted, raw []byte) error {
		name, err := memberName(quoted)
		if err != nil {
			return err
		}
		return fn(name, raw)
	})
}

// eachRawMember is eachMember with each name as its quoted JSON text, so a
// decoder can match known names without allocating (see knownMember).
func eachRawMember(b []byte, fn func(quoted, raw []byte) error) error {
	i, ok, err := container(b, '{', reflect.TypeFor[map[string]any]())
	if !ok {
		return err
	}
	for i < len(b) && b[i] != '}' {
		if b[i] != '"' {
			return errSyntax
		}
		end := skipString(b, i)
		quoted := b[i:end]
		i = skipSpace(b, end)
		if len(quoted) < 2 || i >= len(b) || b[i] != ':' {
			return errSyntax
		}
		start := skipSpace(b, i+1)
		end = skipValue(b, start)
		if err := fn(quoted, b[start:end]); err != nil {
			return err
		}
		i = next(b, end)
	}
	return nil
}

// plainName returns the name in the quoted JSON string q when it needs no
// decoding (no escapes, valid UTF-8), else nil.
func plainName(q []byte) []byte {
	if body := q[1 : len(q)-1]; bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return body
	}
	return nil
}

// memberName decodes the quoted member name q.
func memberName(q []byte) (string, error) {
	if body := plainName(q); body != nil {
		return string(body), nil
	}
	var name string
	err := json.Unmarshal(q, &name)
	return name, err
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
	i, ok, err := container(b, '[', reflect.TypeFor[[]any]())
	if !ok {
		return err
	}
	for i < len(b) && b[i] != ']' {
		end := skipValue(b, i)
		if err := fn(b[i:end]); err != nil {
			return err
		}
		i = next(b, end)
	}
	return nil
}
