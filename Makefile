GO      ?= go
PKGS    ?= ./...
BIN     ?= bin/flagcache

.PHONY: build test bench lint ci

build:
	$(GO) build -o $(BIN) ./cmd/flagcache

# The README's test command.
test:
	$(GO) test -race ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

ci:
	bash .ci/run
