# webstack: see README.md. Every target works on a fresh clone.
GO ?= go

.PHONY: all build test test-deps vet fmt fmt-check bench ci

all: build test

build:
	$(GO) build ./...

## test: the whole test suite (README's test command; CI runs it too)
test:
	$(GO) test ./...

## test-deps: install the programs the real-program checks use (Debian/Ubuntu)
test-deps:
	bash scripts/test-deps.sh

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: the program's time and memory per stack under mocks
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./infra/

## ci: what .ci/run runs
ci:
	bash .ci/run
