package flagcache

// ID names a flag. A valid ID is 1–256 bytes of [A-Za-z0-9._:-] starting with
// a letter or digit, so it is safe in a URL path, a Redis key and a log line.
type ID string

// MaxIDLen is the longest valid ID in bytes.
const MaxIDLen = 256

// Validate returns an invalid-argument error naming field "id" unless id is
// well formed.
func (id ID) Validate() error {
	return validateID("id", id)
}

func validateID(field string, id ID) error {
	if len(id) == 0 {
		return Invalid(field, "must not be empty")
	}
	if len(id) > MaxIDLen {
		return Invalid(field, "longer than %d bytes", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return Invalid(field, "%q is not a valid flag id: use [A-Za-z0-9][A-Za-z0-9._:-]*", truncate(string(id), 64))
		}
	}
	return nil
}

// ValidateIDs checks every id of a batch, naming the first bad one.
func ValidateIDs(ids []ID) error {
	for _, id := range ids {
		if err := validateID("ids", id); err != nil {
			return err
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
