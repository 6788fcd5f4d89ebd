GO      ?= go
PKGS    ?= ./...
BIN     ?= bin/flagcache

# The version stamped into the binary (flagcache --version): the tag on
# HEAD, else the nearest tag plus commits, else the abbreviated commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# make release: binaries without cgo for each of these, with SHA256SUMS
# (linux: statically linked; darwin: linked to libSystem only, as macOS
# requires).
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
DIST      ?= dist

.PHONY: build release test test-faults fuzz bench lint ci

# bin/flagcache, and the benchmark rig beside it (docs/benchmarks.md; it
# finds bin/flagcache next to itself). make release ships flagcache only.
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/flagcache
	$(GO) build -trimpath -o $(dir $(BIN))flagcache-bench ./cmd/flagcache-bench

# Nothing is published: the files land in $(DIST)/, named
# flagcache_<version>_<os>_<arch>, and SHA256SUMS checks them
# (cd dist && sha256sum -c SHA256SUMS).
release:
	rm -rf $(DIST) && mkdir -p $(DIST)
	for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "building $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" \
			-o $(DIST)/flagcache_$(VERSION)_$${os}_$${arch} ./cmd/flagcache || exit 1; \
	done
	cd $(DIST) && sha256sum flagcache_* > SHA256SUMS && cat SHA256SUMS

# The README's test command: the module, then the Helm chart's render
# test (a module of its own: Helm stays out of go.mod).
test:
	$(GO) test -race ./...
	cd deploy/helm/rendertest && $(GO) test ./...

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

# vet, gofmt, staticcheck (pinned: the same version as .ci/run) and a tidy
# go.mod.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

ci:
	bash .ci/run
