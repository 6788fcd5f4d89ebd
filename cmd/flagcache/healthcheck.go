package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// healthcheck GETs a probe URL and succeeds on 200: the container image
// has no curl, so its HEALTHCHECK runs the binary itself.
func (c *cli) healthcheck(ctx context.Context, args []string) error {
	fs := c.flagSet("healthcheck")
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "probe `URL` (/healthz for liveness, /readyz for readiness)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usageError{err.Error()}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, res.Status)
	}
	fmt.Fprintf(c.stdout, "%s: %s\n", *url, res.Status)
	return nil
}
