package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// runTarget is one of the things a steady scenario measures.
type runTarget struct {
	name   string
	newOp  func(worker int) op
	daemon bool // the target daemon: its process is measured
	pid    int  // else the process measured for CPU and RSS, when not 0
	total  *tally
	cpu    time.Duration
	// statuses, when set, counts the HTTP statuses of the target's
	// requests (the poll scenario: 304 or 200).
	statuses *statusCounts
}

// steadyRead is the read scenario: the target and the baselines, each
// read by the same closed loop with the same id sequences, interleaved in
// rounds so that drift of the shared machine falls on all of them alike.
func (b *bench) steadyRead(ctx context.Context) error {
	o := &b.opts
	st := &Steady{Description: fmt.Sprintf("read-only: %d conns, Zipf s=%g over %d flags, %d rounds of %v per target after a %v warm-up",
		o.Conns, o.Zipf, o.Flags, o.Rounds, (o.Duration / time.Duration(o.Rounds)).Round(time.Millisecond), max(o.Warmup, 0))}
	b.report.Read = st
	urls := b.target.flagURLs(b.ds)
	targets := []*runTarget{{name: "daemon", daemon: true, newOp: func(int) op { return httpOp(b.target, urls) }}}
	var skipped []*Result
	for _, name := range o.Baselines {
		b.status("setting up the %s baseline", name)
		bl, err := b.baseline(ctx, name)
		if err != nil {
			skipped = append(skipped, &Result{Name: name, Skipped: err.Error()})
			continue
		}
		defer func() {
			if err := bl.cleanup(context.WithoutCancel(ctx)); err != nil {
				b.report.warn(fmt.Sprintf("cleaning up the %s baseline: %v", name, err))
			}
		}()
		targets = append(targets, &runTarget{name: name, newOp: bl.newOp, pid: bl.pid})
	}

	w := workload{flags: o.Flags, zipf: o.Zipf, conns: o.Conns, seed: o.Seed}
	if err := b.interleave(ctx, targets, w); err != nil {
		return err
	}
	b.finish(st, targets, skipped)
	return nil
}

// interleave runs a steady scenario's targets: a shared warm-up, then
// Options.Rounds rounds in which every target reads the same id sequences
// one after the other, so that drift of the shared machine falls on all of
// them alike. The daemon's CPU is counted over its own rounds.
func (b *bench) interleave(ctx context.Context, targets []*runTarget, w workload) error {
	o := &b.opts
	if o.Warmup > 0 {
		for _, t := range targets {
			b.status("warming up %s for %v", t.name, o.Warmup/time.Duration(len(targets)))
			w.run(ctx, o.Warmup/time.Duration(len(targets)), t.newOp)
		}
	}
	for _, t := range targets {
		t.total = newTally()
		if t.statuses != nil {
			t.statuses.reset()
		}
	}
	slice := o.Duration / time.Duration(o.Rounds)
	seed := w.seed
	for r := range o.Rounds {
		w.seed = seed + uint64(r+1)<<20 // every target reads the same ids in a round
		for _, t := range targets {
			b.status("round %d/%d: %s for %v", r+1, o.Rounds, t.name, slice)
			before := b.proc(t.process(b))
			t.total.merge(w.run(ctx, slice, t.newOp))
			if after := b.proc(t.process(b)); before != nil && after != nil {
				t.cpu += after.CPU - before.CPU
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// finish puts the targets' results, then the skipped ones, in st, with
// the first target's ratio to each other.
func (b *bench) finish(st *Steady, targets []*runTarget, skipped []*Result) {
	for _, t := range targets {
		res := newResult(t.name, t.total)
		if pid := t.process(b); pid != 0 {
			res.Process = b.processUse(pid, t.cpu, res.Requests)
		}
		if t.statuses != nil {
			res.Statuses = t.statuses.snapshot()
		}
		st.Results = append(st.Results, res)
	}
	st.Results = append(st.Results, skipped...)
	st.Ratios = ratios(st.Results)
}

// baseline sets up the baseline called name.
func (b *bench) baseline(ctx context.Context, name string) (*baseline, error) {
	o := &b.opts
	switch name {
	case "static":
		return staticBaseline(ctx, b.ds, o.Conns)
	case "redis":
		return redisBaseline(ctx, o.Redis, "flagcache-bench:"+o.Prefix+":", b.ds, o.Conns)
	case "postgres":
		return postgresBaseline(ctx, o.Postgres, "flagcache_bench_"+runID(), b.ds, o.Conns)
	}
	return nil, fmt.Errorf("unknown baseline %q", name)
}

// steadyMix is the mix scenario on the target alone: reads as in the read
// scenario, and a share of writes through the client, each an Update with
// If-Match on the last version seen. A stale version is a conflict,
// counted by kind: on a hot flag concurrent writers race, as they would.
func (b *bench) steadyMix(ctx context.Context) {
	o := &b.opts
	b.status("mix: %.0f%% writes for %v", 100*o.Mix, o.Duration)
	urls := b.target.flagURLs(b.ds)
	w := workload{flags: o.Flags, zipf: o.Zipf, conns: o.Conns, seed: o.Seed + 99<<20}
	before := b.proc(b.pid)
	total := w.run(ctx, o.Duration, func(k int) op {
		r := rand.New(rand.NewPCG(o.Seed, uint64(k)))
		return func(ctx context.Context, i int) (bool, Tier, error) {
			if r.Float64() >= o.Mix {
				tier, err := b.target.get(ctx, urls[i])
				return false, tier, err
			}
			st, err := b.client.Update(ctx, b.ds.writeDef(i), b.ds.Version(i))
			if err == nil {
				b.ds.SawVersion(i, st.Version)
			} else if v, ok := conflictActual(err); ok {
				b.ds.SawVersion(i, v)
			}
			return true, TierNone, err
		}
	})
	res := newResult("daemon", total)
	if after := b.proc(b.pid); before != nil && after != nil {
		res.Process = b.processUse(b.pid, after.CPU-before.CPU, res.Requests)
	}
	b.report.Mix = &Steady{
		Description: fmt.Sprintf("%.0f%% reads / %.0f%% If-Match writes: %d conns, Zipf s=%g over %d flags, %v on the target alone",
			100*(1-o.Mix), 100*o.Mix, o.Conns, o.Zipf, o.Flags, o.Duration),
		Results: []*Result{res},
	}
}

// process is the pid whose CPU and RSS t's results carry; 0 for none.
func (t *runTarget) process(b *bench) int {
	if t.daemon {
		return b.pid
	}
	return t.pid
}

// proc reads process pid, when known.
func (b *bench) proc(pid int) *ProcStats {
	if pid == 0 {
		return nil
	}
	st, err := ReadProc(pid)
	if err != nil {
		return nil
	}
	return &st
}

// processUse is process pid's RSS now and its CPU over a scenario.
func (b *bench) processUse(pid int, cpu time.Duration, requests int64) *ProcessUse {
	st := b.proc(pid)
	if st == nil {
		return nil
	}
	pu := &ProcessUse{RSSBytes: st.RSS, CPUSeconds: cpu.Seconds()}
	if requests > 0 {
		pu.CPUPerRequestUs = float64(cpu.Microseconds()) / float64(requests)
	}
	return pu
}
