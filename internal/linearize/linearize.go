// Package linearize checks histories of flag operations for
// linearizability with porcupine. The model is one versioned register per
// flag id (partitioned by id): a read observes the version, a
// compare-and-set either applies (version + 1), conflicts (reporting the
// actual version, itself an observation) or has an unknown outcome (it may
// take effect at any point after its call, or never).
package linearize

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/flagcache/flagcache"
)

// Kind is the kind of an operation.
type Kind int

const (
	Read Kind = iota // a read that observes the register (at the source)
	CAS              // an update with an expected version
)

// Input is an operation's call.
type Input struct {
	Kind     Kind
	ID       flagcache.ID
	Expected int64 // CAS
}

// Outcome is how an operation ended.
type Outcome int

const (
	OK       Outcome = iota // read: version seen; CAS: applied, Version = the new one
	Conflict                // CAS refused; Version = the actual version reported
	Unknown                 // CAS failed after it may have reached the source
)

// Output is an operation's result.
type Output struct {
	Outcome Outcome
	Version int64
}

// NeverReturned is the return time of an op whose outcome is unknown.
const NeverReturned = math.MaxInt64

// Model is the register model; every flag starts at version 1 (created
// before the history).
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byID := map[flagcache.ID][]porcupine.Operation{}
		var order []flagcache.ID
		for _, op := range history {
			id := op.Input.(Input).ID
			if _, ok := byID[id]; !ok {
				order = append(order, id)
			}
			byID[id] = append(byID[id], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, id := range order {
			out = append(out, byID[id])
		}
		return out
	},
	Init: func() any { return int64(1) },
	Step: func(state, input, output any) (bool, any) {
		v, in, out := state.(int64), input.(Input), output.(Output)
		if in.Kind == Read {
			return out.Version == v, v
		}
		switch out.Outcome {
		case OK:
			return v == in.Expected && out.Version == v+1, v + 1
		case Conflict:
			return v != in.Expected && out.Version == v, v
		default: // unknown: a CAS that happened here applies iff it matches
			if v == in.Expected {
				return true, v + 1
			}
			return true, v
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		if in.Kind == Read {
			return fmt.Sprintf("read(%s) → v%d", in.ID, out.Version)
		}
		return fmt.Sprintf("cas(%s, v%d) → %s v%d", in.ID, in.Expected, [...]string{"ok", "conflict", "unknown"}[out.Outcome], out.Version)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("v%d", state.(int64)) },
}

// Prune drops the unknown-outcome CAS that cannot have applied: those
// expecting a version older than one an op had already observed, complete,
// before the CAS was called. Versions never go down in the model, so
// wherever such a CAS is linearized it is a no-op; dropping it keeps the
// check exact and spares porcupine a branch per op (hundreds of ops left
// pending forever make it time out).
func Prune(history []porcupine.Operation) (kept []porcupine.Operation, pruned int) {
	type seen struct {
		ret     int64
		version int64 // the highest observed by ops returned at or before ret
	}
	byID := map[flagcache.ID][]seen{}
	for _, op := range history {
		if op.Output.(Output).Outcome == Unknown {
			continue
		}
		id := op.Input.(Input).ID
		byID[id] = append(byID[id], seen{op.Return, op.Output.(Output).Version})
	}
	for _, s := range byID {
		slices.SortFunc(s, func(a, b seen) int { return cmp.Compare(a.ret, b.ret) })
		for i := 1; i < len(s); i++ {
			s[i].version = max(s[i].version, s[i-1].version)
		}
	}
	for _, op := range history {
		in := op.Input.(Input)
		if op.Output.(Output).Outcome == Unknown {
			s := byID[in.ID]
			// The last op that returned strictly before the call.
			i := sort.Search(len(s), func(i int) bool { return s[i].ret >= op.Call }) - 1
			if i >= 0 && s[i].version > in.Expected {
				pruned++
				continue
			}
		}
		kept = append(kept, op)
	}
	return kept, pruned
}

// Result is the outcome of Check.
type Result struct {
	Check  porcupine.CheckResult // Ok, Illegal, or Unknown (timed out)
	Took   time.Duration
	Ops    int    // checked, after pruning
	Pruned int    // unknown CAS that could not have applied
	Visual string // path of porcupine's HTML visualization of an illegal history
	VisErr error  // why Visual is missing for an illegal history
}

// Check checks history against Model after Prune, within timeout. An
// illegal history is written out as porcupine's HTML visualization.
func Check(history []porcupine.Operation, timeout time.Duration) Result {
	start := time.Now()
	history, pruned := Prune(history)
	r := Result{Check: porcupine.CheckOperationsTimeout(Model, history, timeout), Ops: len(history), Pruned: pruned}
	r.Took = time.Since(start)
	if r.Check == porcupine.Illegal {
		_, info := porcupine.CheckOperationsVerbose(Model, history, timeout)
		f, err := os.CreateTemp("", "flagcache-porcupine-*.html")
		if err == nil {
			err = porcupine.Visualize(Model, info, f)
			f.Close()
			r.Visual = f.Name()
		}
		r.VisErr = err
	}
	return r
}
