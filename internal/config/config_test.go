package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/flagcache/flagcache/internal/config"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func mustLoad(t *testing.T, path string, getenv map[string]string, flags map[string]string) config.Config {
	t.Helper()
	c, err := config.Load(path, env(getenv), flags)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flagcache.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The example file sets every setting to its default, and lists them all.
func TestExampleIsTheDefaults(t *testing.T) {
	const example = "../../config.example.toml"
	got := mustLoad(t, example, nil, nil)
	want := mustLoad(t, "", nil, nil)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config.example.toml loads to\n%+v\nwant the defaults\n%+v", got, want)
	}
	var raw map[string]any
	md, err := toml.DecodeFile(example, &raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		if !md.IsDefined(strings.Split(s.Name, ".")...) {
			t.Errorf("config.example.toml does not list %s", s.Name)
		}
	}
	if !md.IsDefined("auth", "tokens") {
		t.Error("config.example.toml does not list auth.tokens")
	}
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, "", nil, nil)
	if c.Server.Listen != "127.0.0.1:8080" || c.Source.Kind != "embedded" || c.Source.DataDir != "flagcache-data" {
		t.Errorf("got listen %s source %s data dir %s, want 127.0.0.1:8080 embedded flagcache-data", c.Server.Listen, c.Source.Kind, c.Source.DataDir)
	}
	c = mustLoad(t, "", map[string]string{"XDG_DATA_HOME": "/home/u/.local/share"}, nil)
	if c.Source.DataDir != "/home/u/.local/share/flagcache" {
		t.Errorf("got data dir %s, want $XDG_DATA_HOME/flagcache", c.Source.DataDir)
	}
}

// Each layer overrides the one before: file, then env, then flags.
func TestLayering(t *testing.T) {
	file := writeFile(t, `
[server]
listen = "127.0.0.1:9001"
read_timeout = "7s"
write_timeout = "8s"
[redis]
addrs = ["file:6379"]
[log]
level = "debug"
`)
	getenv := map[string]string{
		"FLAGCACHE_SERVER_READ_TIMEOUT":  "9s",
		"FLAGCACHE_SERVER_WRITE_TIMEOUT": "10s",
		"FLAGCACHE_REDIS_ADDRS":          "a:1, b:2",
		"FLAGCACHE_REDIS_MODE":           "cluster",
		"FLAGCACHE_CACHE_LRU_SIZE":       "42",
		"FLAGCACHE_METRICS_ENABLED":      "false",
	}
	flags := map[string]string{"server.write_timeout": "11s", "log.format": "text"}
	c := mustLoad(t, file, getenv, flags)
	checks := []struct {
		setting   string
		got, want any
	}{
		{"server.listen (file)", c.Server.Listen, "127.0.0.1:9001"},
		{"server.read_timeout (env over file)", c.Server.ReadTimeout, 9 * time.Second},
		{"server.write_timeout (flag over env over file)", c.Server.WriteTimeout, 11 * time.Second},
		{"redis.addrs (env list)", c.Redis.Addrs, []string{"a:1", "b:2"}},
		{"cache.lru_size (env)", c.Cache.LRUSize, 42},
		{"metrics.enabled (env)", c.Metrics.Enabled, false},
		{"log.level (file)", c.Log.Level, "debug"},
		{"log.format (flag)", c.Log.Format, "text"},
		{"server.idle_timeout (default)", c.Server.IdleTimeout, 2 * time.Minute},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.setting, ch.got, ch.want)
		}
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		getenv  map[string]string
		flags   map[string]string
		mention []string
	}{
		{"unknown key in the file", "[server]\nlisten = \"127.0.0.1:1\"\nlisten_adress = \"x\"\n[cahce]\nlru_size = 1\n", nil, nil, []string{"server.listen_adress", "cahce"}},
		{"wrong type in the file", "[server]\nmax_body_bytes = \"big\"\n", nil, nil, []string{"max_body_bytes"}},
		{"bad duration in the file", "[server]\nread_timeout = \"soon\"\n", nil, nil, []string{"read_timeout"}},
		{"bad duration in env", "", map[string]string{"FLAGCACHE_SERVER_IDLE_TIMEOUT": "forever"}, nil, []string{"server.idle_timeout", "FLAGCACHE_SERVER_IDLE_TIMEOUT"}},
		{"bad integer in env", "", map[string]string{"FLAGCACHE_CACHE_LRU_SIZE": "lots"}, nil, []string{"cache.lru_size"}},
		{"bad boolean in env", "", map[string]string{"FLAGCACHE_METRICS_ENABLED": "sure"}, nil, []string{"metrics.enabled"}},
		{"unknown source kind", "", nil, map[string]string{"source.kind": "floppy"}, []string{"source.kind", "floppy"}},
		{"listen without port", "", nil, map[string]string{"server.listen": "127.0.0.1"}, []string{"server.listen"}},
		{"negative timeout", "", map[string]string{"FLAGCACHE_SERVER_READ_TIMEOUT": "-1s"}, nil, []string{"server.read_timeout"}},
		{"postgres without dsn", "", map[string]string{"FLAGCACHE_SOURCE_KIND": "postgres"}, nil, []string{"postgres.dsn"}},
		{"redis source without addrs", "", map[string]string{"FLAGCACHE_SOURCE_KIND": "redis"}, nil, []string{"redis.addrs"}},
		{"sentinel without master", "", map[string]string{"FLAGCACHE_REDIS_MODE": "sentinel", "FLAGCACHE_REDIS_ADDRS": "s:26379"}, nil, []string{"redis.master_name"}},
		{"single mode with two addrs", "", map[string]string{"FLAGCACHE_REDIS_ADDRS": "a:1,b:2"}, nil, []string{"redis.addrs", "single"}},
		{"token without scope", "[[auth.tokens]]\nvalue = \"x\"\n", nil, nil, []string{"auth.tokens[0].scope"}},
		{"token with value and file", "[[auth.tokens]]\nscope = \"read\"\nvalue = \"x\"\nfile = \"/f\"\n", nil, nil, []string{"auth.tokens[0]"}},
		{"missing token file", "[[auth.tokens]]\nscope = \"read\"\nfile = \"/nonexistent/token\"\n", nil, nil, []string{"auth.tokens[0].file"}},
		{"bad log level", "", map[string]string{"FLAGCACHE_LOG_LEVEL": "loud"}, nil, []string{"log.level"}},
		{"unknown flag setting", "", nil, map[string]string{"server.colour": "red"}, []string{"server.colour"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := ""
			if c.file != "" {
				path = writeFile(t, c.file)
			}
			_, err := config.Load(path, env(c.getenv), c.flags)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, m := range c.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("got %q, want it to name %q", err, m)
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	dsnFile := filepath.Join(dir, "dsn")
	os.WriteFile(tokenFile, []byte("file-token-secret\n"), 0o600)
	os.WriteFile(dsnFile, []byte("postgres://u:dsn-secret@db/flags\n"), 0o600)
	file := writeFile(t, fmt.Sprintf(`
[[auth.tokens]]
scope = "read"
file = %q
[source]
kind = "postgres"
[postgres]
dsn_file = %q
[redis]
password = "redis-secret"
[metrics]
otlp_endpoint = "https://user:otlp-secret@collector:4318"
`, tokenFile, dsnFile))
	c := mustLoad(t, file, map[string]string{"FLAGCACHE_TOKEN": "env-token-secret", "FLAGCACHE_READ_TOKEN": "env-read-secret-1\n"}, nil)

	var tokens []string
	for _, tok := range c.Auth.Tokens {
		tokens = append(tokens, tok.Scope+"="+string(tok.Value))
	}
	if got := strings.Join(tokens, " "); got != "read=file-token-secret write=env-token-secret read=env-read-secret-1" {
		t.Errorf("got tokens %s", got)
	}
	if c.Postgres.DSN != "postgres://u:dsn-secret@db/flags" {
		t.Errorf("got DSN %q from the file", string(c.Postgres.DSN))
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	buf.WriteString(c.String())
	buf.WriteString(fmt.Sprintf("%v %+v", c, c))
	if strings.Contains(buf.String(), "secret") {
		t.Errorf("a secret was formatted:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "[redacted]") {
		t.Errorf("no redaction marker:\n%s", buf.String())
	}
}

// TestTokensTrimmedAndBounded: tokens from every source (inline, file,
// environment) are trimmed; empty-after-trim and short ones are refused,
// naming where they came from and not the token.
func TestTokensTrimmedAndBounded(t *testing.T) {
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank")
	os.WriteFile(blank, []byte("   \n"), 0o600)
	inline := writeFile(t, `
[[auth.tokens]]
scope = "write"
value = "  inline-token-0123456789\n"
`)
	c := mustLoad(t, inline, map[string]string{"FLAGCACHE_TOKEN": "\tenv-token-0123456789\r\n"}, nil)
	for _, tok := range c.Auth.Tokens {
		if v := string(tok.Value); v != strings.TrimSpace(v) || v == "" {
			t.Errorf("token %q is not trimmed", v)
		}
	}
	for _, c := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"short env", "", map[string]string{"FLAGCACHE_TOKEN": "short-tok\n"}, "FLAGCACHE_TOKEN: the token is 9 bytes"},
		{"blank env", "", map[string]string{"FLAGCACHE_READ_TOKEN": " \n"}, "FLAGCACHE_READ_TOKEN: the token is empty"},
		{"short inline", writeFile(t, "[[auth.tokens]]\nscope = \"read\"\nvalue = \"abc  \"\n"), nil, "auth.tokens[0]: the token is 3 bytes"},
		{"blank inline", writeFile(t, "[[auth.tokens]]\nscope = \"read\"\nvalue = \" \"\n"), nil, "auth.tokens[0]: the token is empty"},
		{"blank file", writeFile(t, fmt.Sprintf("[[auth.tokens]]\nscope = \"read\"\nfile = %q\n", blank)), nil, "is empty"},
	} {
		env := c.env
		_, err := config.Load(c.file, func(k string) string { return env[k] }, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "short-tok") {
			t.Errorf("%s: the error quotes the token: %v", c.name, err)
		}
	}
}

// TestDSNParseErrorWithheld: a DSN that does not parse (here a raw @ in
// the password) is named by its setting, and the error quotes nothing of
// it.
func TestDSNParseErrorWithheld(t *testing.T) {
	env := map[string]string{"FLAGCACHE_SOURCE_KIND": "postgres", "FLAGCACHE_POSTGRES_DSN": "postgres://flag:p@ss:w0rd@db:notaport/flags"}
	_, err := config.Load("", func(k string) string { return env[k] }, nil)
	if err == nil || !strings.Contains(err.Error(), "postgres.dsn") {
		t.Fatalf("got %v, want an error naming postgres.dsn", err)
	}
	for _, leak := range []string{"ss:w0rd", "p@ss", "notaport"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("the error leaks %q: %v", leak, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@collector:4318/v1": "https://user:xxxxx@collector:4318/v1",
		"https://token@collector:4318":      "https://token:xxxxx@collector:4318",
		"http://collector:4318":             "http://collector:4318",
		"::not a url@secret":                "[redacted]",
	} {
		if got := config.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
