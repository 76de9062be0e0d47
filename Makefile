# webstack: see README.md. Every target works on a fresh clone.
GO      ?= go
STACK   ?= dev
SANDBOX := .build/sandbox
# Network namespaces need root: use sudo unless we are root already.
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test test-engine pulumi-cli test-deps vet fmt fmt-check bench ci \
	plan plan-update sandbox sandbox-deps sandbox-down e2e $(SANDBOX)

all: build test

build:
	$(GO) build ./...

## test: the whole test suite (README's test command; CI runs it too)
test:
	$(GO) test ./...

## test-engine: every stack, and every component used twice, through the real
## Pulumi engine with fake aws/random providers, offline (builds the pinned
## pulumi CLI once if none is found: about 3 minutes; see docs/ENGINE.md)
test-engine:
	$(GO) test -tags engine -count=1 -v ./internal/engine/

## pulumi-cli: print the path of the pinned Pulumi CLI, building it if needed
pulumi-cli:
	@bash scripts/pulumi-cli.sh

## test-deps: install the programs the real-program checks and the sandbox use
test-deps:
	bash scripts/deps.sh test

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: the program under mocks per stack, the test suite's wall time, and
## (as root) the data plane, failover and recovery in a sandbox: docs/BENCHMARKS.md
bench: $(SANDBOX)
	bash scripts/deps.sh bench
	$(GO) run ./scripts/bench program
	$(GO) build -o .build/bench ./scripts/bench
	$(SANDBOX) prepare
	$(SUDO) .build/bench dataplane

## plan: the offline plan of a stack and its guardrail findings (STACK=dev|staging|prod)
plan:
	$(GO) run ./scripts/plan -stack $(STACK)

## plan-update: refresh the committed plan snapshots (testdata/plans)
plan-update:
	$(GO) test ./internal/plan/ -update

## sandbox-deps: install what the sandbox runs (Debian/Ubuntu) and build it
sandbox-deps: $(SANDBOX)
	bash scripts/deps.sh sandbox
	$(SANDBOX) prepare

## sandbox: the whole diagram on this machine, until Ctrl-C
sandbox: $(SANDBOX)
	$(SANDBOX) prepare
	$(SUDO) $(SANDBOX) up

## sandbox-down: remove everything a sandbox left (also after a crash)
sandbox-down: $(SANDBOX)
	$(SUDO) $(SANDBOX) down

## e2e: the end-to-end scenarios in a sandbox of their own (root)
e2e: $(SANDBOX)
	$(GO) test -c -o .build/sandbox.test ./internal/sandbox/
	$(SANDBOX) prepare
	$(SUDO) env WEBSTACK_E2E=1 WEBSTACK_REQUIRE_TOOLS=1 .build/sandbox.test -test.v -test.count=1

$(SANDBOX):
	$(GO) build -o $(SANDBOX) ./scripts/sandbox

## ci: what .ci/run runs
ci:
	bash .ci/run
