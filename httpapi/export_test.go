package httpapi

import "time"

// SetWatchTicks makes ticks the poll ticker of h's watch poller; call it
// before the first watch.
func SetWatchTicks(h *Handler, ticks <-chan time.Time) { h.hub.ticks = ticks }
