package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/jackc/pgx/v5/pgconn"
)

// Environment variables for tokens; every other setting has its own
// FLAGCACHE_SECTION_KEY variable (see Settings).
const (
	EnvToken     = "FLAGCACHE_TOKEN"
	EnvReadToken = "FLAGCACHE_READ_TOKEN"

	// The names (history actors) of the environment tokens.
	EnvTokenName     = "env-write"
	EnvReadTokenName = "env-read"
)

// Load builds the configuration: Default, then the TOML file at path (none
// if ""), then the FLAGCACHE_* variables of getenv (an empty value counts as
// unset), then flags (setting name → value, as given on the command line).
// It validates the result and reads the secret files it names.
func Load(path string, getenv func(string) string, flags map[string]string) (Config, error) {
	c := Default()
	if path != "" {
		if err := c.loadFile(path); err != nil {
			return c, err
		}
	}
	for _, s := range Settings() {
		if v := getenv(s.Env); v != "" {
			if err := s.set(&c, v); err != nil {
				return c, fmt.Errorf("%s (from %s): %w", s.Name, s.Env, err)
			}
		}
	}
	if v := getenv(EnvToken); v != "" {
		c.Auth.Tokens = append(c.Auth.Tokens, Token{Name: EnvTokenName, Scope: "write", Value: Secret(v), from: EnvToken})
	}
	if v := getenv(EnvReadToken); v != "" {
		c.Auth.Tokens = append(c.Auth.Tokens, Token{Name: EnvReadTokenName, Scope: "read", Value: Secret(v), from: EnvReadToken})
	}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		s, ok := setting(name)
		if !ok {
			return c, fmt.Errorf("unknown setting %q", name)
		}
		if err := s.set(&c, flags[name]); err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
	}
	// An empty list in the file is no list: the same as the default.
	if len(c.Auth.Tokens) == 0 {
		c.Auth.Tokens = nil
	}
	if len(c.Redis.Addrs) == 0 {
		c.Redis.Addrs = nil
	}
	if c.Source.DataDir == "" {
		c.Source.DataDir = "flagcache-data"
		if xdg := getenv("XDG_DATA_HOME"); xdg != "" {
			c.Source.DataDir = filepath.Join(xdg, "flagcache")
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	if err := c.readSecrets(); err != nil {
		return c, err
	}
	return c, c.checkSecrets()
}

// MinTokenLen is the shortest bearer token accepted, in bytes.
const MinTokenLen = 16

// checkSecrets checks the secrets once every source is read: tokens are
// trimmed of surrounding white space whatever their source (a Kubernetes
// secret or an env file often ends in a newline) and must be at least
// MinTokenLen bytes; a DSN that does not parse is named without the
// parser's message, which may quote the password.
func (c *Config) checkSecrets() error {
	var errs []error
	for i := range c.Auth.Tokens {
		t := &c.Auth.Tokens[i]
		name := fmt.Sprintf("auth.tokens[%d]", i)
		if t.from != "" {
			name = t.from
		}
		t.Value = Secret(strings.TrimSpace(string(t.Value)))
		switch {
		case t.Value == "":
			errs = append(errs, fmt.Errorf("%s: the token is empty (or only white space)", name))
		case len(t.Value) < MinTokenLen:
			errs = append(errs, fmt.Errorf("%s: the token is %d bytes; use at least %d (for example: openssl rand -hex 32)", name, len(t.Value), MinTokenLen))
		}
	}
	if c.Postgres.DSN != "" {
		if _, err := pgconn.ParseConfig(string(c.Postgres.DSN)); err != nil {
			setting := "postgres.dsn"
			if c.Postgres.DSNFile != "" {
				setting = "postgres.dsn_file"
			}
			errs = append(errs, fmt.Errorf("%s: not a valid Postgres connection string (the parser's message is withheld: it may contain the password; percent-encode special characters such as @ in the password)", setting))
		}
	}
	return errors.Join(errs...)
}

// loadFile decodes a TOML file over c. A key that is no setting is an error
// naming it: a typo must not silently fall back to a default.
func (c *Config) loadFile(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return fmt.Errorf("config file %s: unknown setting(s): %s", path, strings.Join(keys, ", "))
	}
	return nil
}

// readSecrets fills the secrets given as files.
func (c *Config) readSecrets() error {
	for i := range c.Auth.Tokens {
		t := &c.Auth.Tokens[i]
		if t.File != "" {
			v, err := readSecret(t.File)
			if err != nil {
				return fmt.Errorf("auth.tokens[%d].file: %w", i, err)
			}
			t.Value = v
		}
	}
	var err error
	if c.Postgres.DSNFile != "" {
		if c.Postgres.DSN, err = readSecret(c.Postgres.DSNFile); err != nil {
			return fmt.Errorf("postgres.dsn_file: %w", err)
		}
	}
	if c.Redis.PasswordFile != "" {
		if c.Redis.Password, err = readSecret(c.Redis.PasswordFile); err != nil {
			return fmt.Errorf("redis.password_file: %w", err)
		}
	}
	return nil
}

// readSecret returns a file's content without surrounding white space.
func readSecret(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return Secret(s), nil
}

// Setting is one scalar or list setting.
type Setting struct {
	Name  string // section.key, as in the TOML file
	Env   string // FLAGCACHE_SECTION_KEY
	index []int  // field path in Config
}

// Settings lists every setting but the token list.
func Settings() []Setting {
	var out []Setting
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		sec := ct.Field(i)
		for j := range sec.Type.NumField() {
			f := sec.Type.Field(j)
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				continue // auth.tokens
			}
			name := sec.Tag.Get("toml") + "." + f.Tag.Get("toml")
			env := "FLAGCACHE_" + strings.ToUpper(strings.ReplaceAll(name, ".", "_"))
			out = append(out, Setting{Name: name, Env: env, index: []int{i, j}})
		}
	}
	return out
}

func setting(name string) (Setting, bool) {
	for _, s := range Settings() {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// set parses v into the setting's field of c.
func (s Setting) set(c *Config, v string) error {
	f := reflect.ValueOf(c).Elem().FieldByIndex(s.index)
	if f.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 500ms, 30s or 2m", v)
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(v)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		f.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		f.SetBool(b)
	case reflect.Slice:
		var list []string
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		f.Set(reflect.ValueOf(list))
	default:
		return errors.New("cannot be set from text")
	}
	return nil
}
