package reliability_test

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/flagcache/flagcache"
)

// The linearizability model: one versioned register per flag id, partitioned
// by id. The register's state is the flag's version.

type opKind int

const (
	opRead opKind = iota // a read at the source
	opCAS                // Update with an expected version
)

type regInput struct {
	kind     opKind
	id       flagcache.ID
	expected int64 // opCAS
}

type outcome int

const (
	outOK       outcome = iota // read: version seen; CAS: applied, version = the new one
	outConflict                // CAS refused; version = the actual version reported
	outUnknown                 // CAS failed after it may have reached the source
)

type regOutput struct {
	outcome outcome
	version int64
}

// neverReturned is the return time of an op whose outcome is unknown: it may
// take effect at any point after its call, or never.
const neverReturned = math.MaxInt64

// registerModel: every flag starts at version 1 (created before the history).
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byID := map[flagcache.ID][]porcupine.Operation{}
		var order []flagcache.ID
		for _, op := range history {
			id := op.Input.(regInput).id
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
		v, in, out := state.(int64), input.(regInput), output.(regOutput)
		if in.kind == opRead {
			return out.version == v, v
		}
		switch out.outcome {
		case outOK:
			return v == in.expected && out.version == v+1, v + 1
		case outConflict:
			return v != in.expected && out.version == v, v
		default: // unknown: a CAS that happened here applies iff it matches
			if v == in.expected {
				return true, v + 1
			}
			return true, v
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		if in.kind == opRead {
			return fmt.Sprintf("read(%s) → v%d", in.id, out.version)
		}
		return fmt.Sprintf("cas(%s, v%d) → %s v%d", in.id, in.expected, [...]string{"ok", "conflict", "unknown"}[out.outcome], out.version)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("v%d", state.(int64)) },
}

// pruneImpossible drops the unknown-outcome CAS that cannot have applied:
// those expecting a version older than one an op had already observed,
// complete, before the CAS was called. Versions never go down in the
// model, so wherever such a CAS is linearized it is a no-op; dropping it
// keeps the check exact and spares porcupine a branch per op (hundreds of
// ops left pending forever make it time out).
func pruneImpossible(history []porcupine.Operation) (kept []porcupine.Operation, pruned int) {
	type seen struct {
		ret     int64
		version int64 // the highest observed by ops returned at or before ret
	}
	byID := map[flagcache.ID][]seen{}
	for _, op := range history {
		if op.Output.(regOutput).outcome == outUnknown {
			continue
		}
		id := op.Input.(regInput).id
		byID[id] = append(byID[id], seen{op.Return, op.Output.(regOutput).version})
	}
	for _, s := range byID {
		slices.SortFunc(s, func(a, b seen) int { return cmp.Compare(a.ret, b.ret) })
		for i := 1; i < len(s); i++ {
			s[i].version = max(s[i].version, s[i-1].version)
		}
	}
	for _, op := range history {
		in := op.Input.(regInput)
		if op.Output.(regOutput).outcome == outUnknown {
			s := byID[in.id]
			// The last op that returned strictly before the call.
			i := sort.Search(len(s), func(i int) bool { return s[i].ret >= op.Call }) - 1
			if i >= 0 && s[i].version > in.expected {
				pruned++
				continue
			}
		}
		kept = append(kept, op)
	}
	return kept, pruned
}

// checkLinearizable checks history against the register model, after
// pruneImpossible, whose count it returns. Porcupine's Unknown (the check
// timed out) fails the test like Illegal does; an Illegal history is
// written out as porcupine's HTML visualization.
func checkLinearizable(t *testing.T, history []porcupine.Operation, timeout time.Duration) (res porcupine.CheckResult, took time.Duration, pruned int) {
	t.Helper()
	start := time.Now()
	history, pruned = pruneImpossible(history)
	res = porcupine.CheckOperationsTimeout(registerModel, history, timeout)
	took = time.Since(start)
	if res == porcupine.Ok {
		return res, took, pruned
	}
	t.Errorf("linearizability check of %d ops: %s after %v", len(history), res, took.Round(time.Millisecond))
	if res == porcupine.Illegal {
		_, info := porcupine.CheckOperationsVerbose(registerModel, history, timeout)
		f, err := os.CreateTemp("", "flagcache-porcupine-*.html")
		if err == nil {
			err = porcupine.Visualize(registerModel, info, f)
			f.Close()
		}
		if err != nil {
			t.Logf("visualization not written: %v", err)
		} else {
			t.Logf("visualization of the illegal history: %s", f.Name())
		}
	}
	return res, took, pruned
}

// The model itself: a checker that accepted everything would prove nothing.
func TestRegisterModel(t *testing.T) {
	op := func(client int, call, ret int64, in regInput, out regOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	read := func(v int64) (regInput, regOutput) { return regInput{kind: opRead, id: "a"}, regOutput{outOK, v} }
	cas := func(expected int64, o outcome, v int64) (regInput, regOutput) {
		return regInput{kind: opCAS, id: "a", expected: expected}, regOutput{o, v}
	}
	seq := func(ops ...func(i int) porcupine.Operation) []porcupine.Operation {
		var h []porcupine.Operation
		for i, f := range ops {
			h = append(h, f(i))
		}
		return h
	}
	at := func(in regInput, out regOutput) func(i int) porcupine.Operation {
		return func(i int) porcupine.Operation { return op(0, int64(10*i), int64(10*i+5), in, out) }
	}
	unknownAt := func(in regInput, out regOutput) func(i int) porcupine.Operation {
		return func(i int) porcupine.Operation { return op(1, int64(10*i), neverReturned, in, out) }
	}
	for _, tc := range []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{
		{"cas then read", seq(at(cas(1, outOK, 2)), at(read(2))), true},
		{"read goes back", seq(at(cas(1, outOK, 2)), at(read(1))), false},
		{"lost ack", seq(at(cas(1, outOK, 2)), at(cas(1, outOK, 2))), false},
		{"conflict reports actual", seq(at(cas(1, outOK, 2)), at(cas(1, outConflict, 2))), true},
		{"conflict lies", seq(at(cas(1, outOK, 2)), at(cas(1, outConflict, 3))), false},
		{"unknown applied", seq(unknownAt(cas(1, outUnknown, 0)), at(read(2))), true},
		{"unknown not applied", seq(unknownAt(cas(1, outUnknown, 0)), at(read(1)), at(cas(1, outOK, 2))), true},
		{"unknown applied twice", seq(unknownAt(cas(1, outUnknown, 0)), at(read(2)), at(read(3))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(registerModel, tc.history); got != tc.want {
				t.Errorf("linearizable: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPruneImpossible(t *testing.T) {
	op := func(call, ret int64, in regInput, out regOutput) porcupine.Operation {
		return porcupine.Operation{Input: in, Call: call, Output: out, Return: ret}
	}
	unknown := func(call, expected int64) porcupine.Operation {
		return op(call, neverReturned, regInput{kind: opCAS, id: "a", expected: expected}, regOutput{outUnknown, 0})
	}
	history := []porcupine.Operation{
		op(0, 10, regInput{kind: opCAS, id: "a", expected: 1}, regOutput{outOK, 2}),
		op(20, 30, regInput{kind: opRead, id: "b"}, regOutput{outOK, 9}), // another id
		unknown(5, 1),  // concurrent with the CAS to v2: may have applied first
		unknown(10, 1), // called as the CAS returned: concurrent, kept
		unknown(11, 1), // v2 was observed before: cannot apply
		unknown(11, 2), // expects what was observed: kept
		unknown(40, 5), // b's v9 says nothing about a
	}
	kept, pruned := pruneImpossible(history)
	if pruned != 1 || len(kept) != len(history)-1 {
		t.Fatalf("pruned %d, kept %d; want 1 and %d", pruned, len(kept), len(history)-1)
	}
	for _, op := range kept {
		if op.Call == 11 && op.Input.(regInput).expected == 1 {
			t.Errorf("kept the CAS that cannot apply")
		}
	}
}
