package httpapi

import "time"

// SetWatchTicks makes ticks the poll ticker of h's watch poller; call it
// before the first watch.
func SetWatchTicks(h *Handler, ticks <-chan time.Time) { h.hub.ticks = ticks }

// SetFastPath turns the GET fast path of h on or off, so a test can send
// a request through either path.
func SetFastPath(h *Handler, on bool) { h.fast = on && h.tracer == nil }
