package invalidation

import (
	"encoding/json"
	"fmt"

	"github.com/flagcache/flagcache"
)

// DefaultChannel is the pub/sub channel used when none is configured.
const DefaultChannel = "flagcache:invalidations"

// Message announces one write: the flag id, its new version (a delete's
// tombstone version), the operation, the write's store-wide revision, and
// the sidecar that made it.
type Message struct {
	ID       flagcache.ID `json:"id"`
	Version  int64        `json:"version"`
	Op       flagcache.Op `json:"op"`
	Revision int64        `json:"revision"`
	Origin   string       `json:"origin"`
}

// Decode parses and checks a message payload.
func Decode(payload string) (Message, error) {
	var m Message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return Message{}, fmt.Errorf("invalidation: bad payload: %w", err)
	}
	if err := m.ID.Validate(); err != nil {
		return Message{}, fmt.Errorf("invalidation: %w", err)
	}
	if m.Version < 1 || m.Revision < 1 || (m.Op != flagcache.OpUpsert && m.Op != flagcache.OpDelete) {
		return Message{}, fmt.Errorf("invalidation: malformed message %+v", m)
	}
	return m, nil
}

// Encode returns the payload of m.
func (m Message) Encode() string {
	b, _ := json.Marshal(m) // cannot fail: plain fields
	return string(b)
}
