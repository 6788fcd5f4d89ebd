package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as tables for a terminal.
func (r *Report) WriteText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	s := r.Settings
	fmt.Fprintf(w, "flagcache-bench: %s\n", r.Target)
	fmt.Fprintf(w, "%d flags of ~%d B (ids %s-*), %d conns, Zipf s=%g\n", s.Flags, s.Size, s.Prefix, s.Conns, s.Zipf)
	if s.Flagcache != "" {
		fmt.Fprintf(w, "spawned daemons: %s serve\n", s.Flagcache)
	}
	if d := r.Daemon; d != nil {
		switch {
		case d.Unavailable != "":
			fmt.Fprintf(w, "daemon process: unknown (%s)\n", d.Unavailable)
		case d.InProcess:
			fmt.Fprintf(w, "daemon process: pid %d, the bench's own (its RSS and CPU include the load generator)\n", d.PID)
		default:
			fmt.Fprintf(w, "daemon process: pid %d\n", d.PID)
		}
	}
	for _, sc := range []struct {
		name string
		st   *Steady
	}{{ScenarioRead, r.Read}, {ScenarioList, r.List}, {ScenarioPoll, r.Poll}, {ScenarioMix, r.Mix}} {
		if sc.st != nil {
			writeSteady(w, sc.name, sc.st)
		}
	}
	if c := r.Cold; c != nil {
		fmt.Fprintf(w, "\ncold: a daemon started with its LRU and Redis cache empty; each of %d flags read once, then again\n", c.Flags)
		fmt.Fprintln(w, "  pass\tp50\tp90\tp99\tp99.9\tmax\ttiers")
		fmt.Fprintf(w, "  first\t%s\t%s\n", latencyCells(c.First), fmtShares(c.FirstTiers))
		fmt.Fprintf(w, "  second\t%s\t%s\n", latencyCells(c.Warm), fmtShares(c.WarmTiers))
		fmt.Fprintf(w, "  time to warm (the first pass): %.2f s\n", c.WarmSeconds)
		writeErrors(w, c.Errors, c.ErrorExamples)
	}
	if st := r.Storm; st != nil {
		fmt.Fprintf(w, "\nstorm: %d concurrent GETs of the cold flag %s on each daemon at once\n", st.Requests, st.ID)
		fmt.Fprintln(w, "  daemon\tsource reads\tp50\tp90\tp99\tp99.9\tmax\ttiers\terrors")
		for _, d := range st.Daemons {
			reads := fmt.Sprint(d.SourceReads)
			if d.SourceReads < 0 {
				reads = "unknown"
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", d.Name, reads, latencyCells(d.Latency), fmtShares(d.Tiers), fmtErrors(d.Errors))
			if d.Note != "" {
				fmt.Fprintf(w, "  %s: %s\n", d.Name, d.Note)
			}
		}
	}
	if inv := r.Invalidation; inv != nil {
		fmt.Fprintf(w, "\ninvalidation: %s; %d writes over %d flags on A (If-Match), B polled until it serves each new version\n", inv.Pair, inv.Writes, inv.Flags)
		fmt.Fprintln(w, "  measure\tcount\tp50\tp90\tp99\tp99.9\tmax")
		fmt.Fprintf(w, "  A's ack → B serves it\t%s\t%s\n", count(inv.Latency), latencyCells(inv.Latency))
		fmt.Fprintf(w, "  the write on A\t%s\t%s\n", count(inv.WriteLatency), latencyCells(inv.WriteLatency))
		writeErrors(w, inv.Errors, inv.ErrorExamples)
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "\nmemory: %s\n", m.Note)
		measured := len(m.Points) > 0 && m.Points[0].MeasuredSidecarRSS > 0
		head := "  flags\traw data\tempty RSS\tbare RSS\tcached RSS\tcache B/flag\tsidecar RSS\t× raw"
		if measured {
			head += "\tmeasured sidecar RSS\t× raw"
		}
		fmt.Fprintln(w, head+"\tLRU entries\tpurges\tpasses")
		for _, p := range m.Points {
			fmt.Fprintf(w, "  %d\t%s\t%s\t%s\t%s\t%.0f\t%s\t%.2f", p.Flags, fmtBytes(p.RawBytes), fmtBytes(p.EmptyRSS),
				fmtBytes(p.BareRSS), fmtBytes(p.CachedRSS), p.CacheBytesPerFlag, fmtBytes(p.SidecarRSS), p.SidecarToRaw)
			if measured {
				fmt.Fprintf(w, "\t%s\t%.2f", fmtBytes(p.MeasuredSidecarRSS), p.MeasuredSidecarToRaw)
			}
			fmt.Fprintf(w, "\t%d\t%d\t%d\n", p.LRUEntries, p.LRUPurges, p.ReadPasses)
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintln(w, "\nskipped:")
		for _, k := range slices.Sorted(maps.Keys(r.Skipped)) {
			fmt.Fprintf(w, "  %s: %s\n", k, r.Skipped[k])
		}
	}
	for _, msg := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", msg)
	}
	return w.Flush()
}

func writeSteady(w io.Writer, name string, st *Steady) {
	fmt.Fprintf(w, "\n%s: %s\n", name, st.Description)
	fmt.Fprintln(w, "  target\top\treq/s\tp50\tp90\tp99\tp99.9\tmax\terrors")
	var skipped []*Result
	for _, r := range st.Results {
		if r.Skipped != "" {
			skipped = append(skipped, r)
			continue
		}
		for _, row := range []struct {
			op   string
			l    *Latency
			errs map[string]int64
		}{{"read", r.Read, r.Errors}, {"write", r.Write, r.WriteErrors}} {
			if row.l == nil && row.errs == nil {
				continue
			}
			var n uint64
			if row.l != nil {
				n = row.l.Count
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", r.Name, row.op, fmtCount(float64(n)/r.Seconds), latencyCells(row.l), fmtErrors(row.errs))
		}
	}
	for _, r := range skipped {
		fmt.Fprintf(w, "  %s\tskipped: %s\n", r.Name, r.Skipped)
	}
	for _, r := range st.Results {
		if r.Skipped != "" {
			continue
		}
		if len(r.Tiers) > 0 && r.Tiers["none"] < 1 {
			fmt.Fprintf(w, "  %s reads by tier: %s\n", r.Name, fmtShares(r.Tiers))
		}
		if len(r.Statuses) > 0 {
			fmt.Fprintf(w, "  %s statuses: 200 × %d, 304 × %d\n", r.Name, r.Statuses["200"], r.Statuses["304"])
		}
		if p := r.Process; p != nil {
			fmt.Fprintf(w, "  %s process: RSS %s, CPU %.2f s (%.0f µs per request)\n", r.Name, fmtBytes(p.RSSBytes), p.CPUSeconds, p.CPUPerRequestUs)
		}
		writeErrors(w, r.Errors, r.ErrorExamples)
		writeErrors(w, r.WriteErrors, r.ErrorExamples)
	}
	for _, q := range st.Ratios {
		fmt.Fprintf(w, "  daemon / %s: throughput %.2f×, p99 %.2f×", q.Baseline, q.Throughput, q.P99)
		if q.CPUPerRequest > 0 {
			fmt.Fprintf(w, ", CPU per request %.2f×", q.CPUPerRequest)
		}
		fmt.Fprintln(w)
	}
}

func writeErrors(w io.Writer, errs map[string]int64, examples map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		fmt.Fprintf(w, "  error %s ×%d", k, errs[k])
		if ex := examples[k]; ex != "" {
			fmt.Fprintf(w, ", e.g. %s", ex)
		}
		fmt.Fprintln(w)
	}
}

func latencyCells(l *Latency) string {
	if l == nil {
		return "-\t-\t-\t-\t-"
	}
	return strings.Join([]string{fmtUs(l.P50), fmtUs(l.P90), fmtUs(l.P99), fmtUs(l.P999), fmtUs(l.Max)}, "\t")
}

func count(l *Latency) string {
	if l == nil {
		return "0"
	}
	return fmt.Sprint(l.Count)
}

// fmtUs formats microseconds for a table.
func fmtUs(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.2fms", us/1e3)
	}
	return fmt.Sprintf("%.2fs", us/1e6)
}

func fmtBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func fmtCount(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func fmtShares(shares map[string]float64) string {
	if len(shares) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range tierNames {
		if v, ok := shares[t]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", t, 100*v))
		}
	}
	return strings.Join(parts, ", ")
}

func fmtErrors(errs map[string]int64) string {
	if len(errs) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, errs[k]))
	}
	return strings.Join(parts, ", ")
}
