package linearize_test

import (
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/flagcache/flagcache/internal/linearize"
)

type (
	regInput  = linearize.Input
	regOutput = linearize.Output
)

const (
	opRead        = linearize.Read
	opCAS         = linearize.CAS
	outOK         = linearize.OK
	outConflict   = linearize.Conflict
	outUnknown    = linearize.Unknown
	neverReturned = linearize.NeverReturned
)

var (
	registerModel   = linearize.Model
	pruneImpossible = linearize.Prune
)

// The model itself: a checker that accepted everything would prove nothing.
func TestRegisterModel(t *testing.T) {
	op := func(client int, call, ret int64, in regInput, out regOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	read := func(v int64) (regInput, regOutput) {
		return regInput{Kind: opRead, ID: "a"}, regOutput{Outcome: outOK, Version: v}
	}
	cas := func(expected int64, o linearize.Outcome, v int64) (regInput, regOutput) {
		return regInput{Kind: opCAS, ID: "a", Expected: expected}, regOutput{Outcome: o, Version: v}
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
		return op(call, neverReturned, regInput{Kind: opCAS, ID: "a", Expected: expected}, regOutput{Outcome: outUnknown})
	}
	history := []porcupine.Operation{
		op(0, 10, regInput{Kind: opCAS, ID: "a", Expected: 1}, regOutput{Outcome: outOK, Version: 2}),
		op(20, 30, regInput{Kind: opRead, ID: "b"}, regOutput{Outcome: outOK, Version: 9}), // another id
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
		if op.Call == 11 && op.Input.(regInput).Expected == 1 {
			t.Errorf("kept the CAS that cannot apply")
		}
	}
}
