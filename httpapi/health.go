package httpapi

import (
	"context"
	"log/slog"
	"net/http"
)

// Pinger is implemented by stores that can check their backend cheaply.
// Without it, /readyz reads one entry of the change feed.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReadyCheck is one component /readyz reports, such as the Redis cache.
// A failing check makes /readyz answer 503 only when it is Required: a
// cache that is down slows reads but does not stop them.
type ReadyCheck struct {
	Name     string
	Check    func(ctx context.Context) error
	Required bool
}

// Readiness is the body of /readyz: "ready" or "not_ready", and "up" or
// "down" per component. Failure details go to the log, not to this
// unauthenticated endpoint.
type Readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// healthz serves GET /healthz: the process is up and serving.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz serves GET /readyz: 200 when the source answers (and every
// required check passes), 503 otherwise and while shutting down.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) error {
	if h.closing() {
		writeJSON(w, http.StatusServiceUnavailable, Readiness{Status: "shutting_down", Checks: map[string]string{}})
		return nil
	}
	checks := append([]ReadyCheck{{Name: "source", Check: h.pingSource, Required: true}}, h.opts.ReadyChecks...)
	resp := Readiness{Status: "ready", Checks: make(map[string]string, len(checks))}
	status := http.StatusOK
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.ReadyTimeout)
		err := c.Check(ctx)
		cancel()
		if err == nil {
			resp.Checks[c.Name] = "up"
			continue
		}
		resp.Checks[c.Name] = "down"
		logger(r.Context(), h.log).Warn("readiness check failed", slog.String("check", c.Name), slog.String("error", err.Error()))
		if c.Required {
			resp.Status, status = "not_ready", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, resp)
	return nil
}

func (h *Handler) pingSource(ctx context.Context) error {
	if p, ok := h.store.(Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := h.store.Changes(ctx, 0, 1)
	return err
}
