package rediskv

import (
	"strings"

	"github.com/flagcache/flagcache"
)

// keys names the keys of the store role. Every name starts with the hash tag
// "{prefix}", so all of them live in one hash slot and the scripts run on
// Redis Cluster. The only name joined from input is the per-id members set,
// "{prefix}:index:<id>", built here in Go from a validated id.
type keys struct {
	flags      string // hash id -> envelope JSON of the live flag
	versions   string // hash id -> last version, kept forever (tombstones too)
	created    string // hash id -> created_at of the live flag
	index      string // zset, score 0: the secondary indexes, see member
	updated    string // zset updated_at µs -> id, live flags
	changes    string // zset revision -> id: the compacted change feed
	tombstones string // zset deleted_at µs -> id, tombstones still in the feed
	state      string // hash: revision (last handed out), horizon
	actors     string // hash id -> actor (JSON) of the latest write
	histories  string // + id: zset of that id's history, see history.go
}

func newKeys(prefix string) keys {
	tag := "{" + prefix + "}:"
	return keys{
		flags:      tag + "flags",
		versions:   tag + "versions",
		created:    tag + "created",
		index:      tag + "index",
		updated:    tag + "updated",
		changes:    tag + "changes",
		tombstones: tag + "tombstones",
		state:      tag + "state",
		actors:     tag + "actors",
		histories:  tag + "history:",
	}
}

// members returns the key of the set holding id's members of the index, so
// the write script can take them out again.
func (k keys) members(id flagcache.ID) string { return k.index + ":" + string(id) }

// The index is one sorted set whose members all score 0, so ZRANGEBYLEX
// walks them bytewise. A member is
//
//	code, escape(value), sep, escape(name), sep, id
//
// and all members of one code and value form a range already ordered by
// name then id, which is List's order. escape doubles every NUL as
// "\x00\xff" and sep is "\x00\x01", lower than any escaped byte, so a name
// that is a prefix of another sorts first exactly as in a bytewise compare.
const sep = "\x00\x01"

// Index codes.
const (
	codeName       = 'n' // every live flag
	codeUnarchived = 'u' // every live flag whose status is not archived
	codeStatus     = 's'
	codeTag        = 't'
	codeOwner      = 'o'
	codeEnv        = 'e'
)

func escape(s string) string { return strings.ReplaceAll(s, "\x00", "\x00\xff") }

// rangePrefix is the prefix shared by the members of one code and value.
func rangePrefix(code byte, value string) string {
	return string(code) + escape(value) + sep
}

// sortKey orders flags by name then id once escaped.
func sortKey(def *flagcache.Definition) string {
	return escape(def.Name) + sep + string(def.ID)
}

// idOf returns the id at the end of a sort key (ids never hold a NUL).
func idOf(sortKey string) flagcache.ID {
	return flagcache.ID(sortKey[strings.LastIndex(sortKey, sep)+len(sep):])
}

// indexMembers returns the index members of a definition about to be
// stored (its status already defaulted).
func indexMembers(def *flagcache.Definition) []string {
	key := sortKey(def)
	m := []string{
		rangePrefix(codeName, "") + key,
		rangePrefix(codeStatus, string(def.Status)) + key,
	}
	if def.Status != flagcache.StatusArchived {
		m = append(m, rangePrefix(codeUnarchived, "")+key)
	}
	if def.Metadata.Owner != "" {
		m = append(m, rangePrefix(codeOwner, def.Metadata.Owner)+key)
	}
	for _, tag := range def.Metadata.Tags {
		m = append(m, rangePrefix(codeTag, tag)+key)
	}
	for env := range def.Environments {
		m = append(m, rangePrefix(codeEnv, env)+key)
	}
	return m
}
