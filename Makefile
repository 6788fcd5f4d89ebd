GO      ?= go
PKGS    ?= ./...
BIN     ?= bin/flagcache

.PHONY: build test test-faults fuzz bench lint ci

build:
	$(GO) build -o $(BIN) ./cmd/flagcache

# The README's test command.
test:
	$(GO) test -race ./...

# The reliability suite with its full op counts and outage lengths; the
# figures go into docs/reliability.md. `make test` runs its short version.
test-faults:
	FLAGCACHE_FAULTS=full $(GO) test -race -v -count=1 -timeout 30m ./reliability/

# Each fuzz target for FUZZTIME; `make test` runs only their corpora
# (testdata/fuzz). A failing input lands in testdata/fuzz: commit it with
# the fix.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDefinitionRoundTrip$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzIDValidate$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzParseETag$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzQueryString$$' -fuzztime $(FUZZTIME) ./httpapi/
	$(GO) test -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME) ./httpapi/

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

ci:
	bash .ci/run
