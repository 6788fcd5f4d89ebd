// Package config is the daemon's configuration: defaults, then a TOML file,
// then FLAGCACHE_* environment variables, then command-line flags, then
// Validate, whose errors name the setting.
//
// Every setting has a dotted name, section.key ("server.listen"), the same
// in the TOML file (key in [section]) and in the environment, where it is
// FLAGCACHE_SECTION_KEY (FLAGCACHE_SERVER_LISTEN). Lists in the environment
// are comma-separated. Tokens are the exception: FLAGCACHE_TOKEN adds a
// write token and FLAGCACHE_READ_TOKEN a read token; the file lists more
// under [[auth.tokens]], inline or from files.
//
// config.example.toml at the repository root lists every setting with its
// default; a test checks that it loads to Default().
package config
