# SparkFlow. `make demo` runs the main job on the embedded engine; `make test` runs every test.
SHELL    := /bin/bash
GO       ?= go
BIN      := bin
GOFLAGS  ?= -buildvcs=false
export GOFLAGS
# The CDK's jsii runtime prints a large end-of-life box on Node 20 at every synth. Node 20 still
# works for everything here (README: Node 22 or 24 are the supported ones); the box is silenced for 20
# only, so a newer unsupported version still warns.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20

.PHONY: sim all build demo check check-test test go-test browser-test tools iam-tools twin twin-tools lambdas cdk-tools synth synth-check vet fmt-check race bench bench-load bench-scheduling bench-scaling clean

all: build

build:
	@[ -x $(BIN)/sparkflow ] || echo "building bin/sparkflow and bin/sales-etl (the first build fetches the Go modules and compiles them: a minute or two)…"
	$(GO) build -o $(BIN)/sparkflow ./cmd/sparkflow
	$(GO) build -o $(BIN)/sales-etl ./examples/sales-etl

## demo: 30 runs of the sales ETL on a pool of 3 local clusters, live, with a summary
demo: build
	./$(BIN)/sparkflow demo

## check: the fast inner loop (well under a minute once built): go vet, gofmt, and the tests that need
## no emulator, browser or CDK (domain, core, workflow, task logic, local engine, front ends)
CHECK_PKGS = $(shell $(GO) list ./... | grep -v -e /shared/aws/ -e /shared/crosshome -e /infra -e /cmd/)
check: vet fmt-check check-test

check-test:
	$(GO) test -count=1 $(CHECK_PKGS)

## test: go vet, gofmt check, the template checks, every Go test (unit, contract suites, end-to-end,
## CLI, kill -9 restart), a batch of the simulation, the AWS twin, then the web UI in a real browser (installs what they need
## when missing: Debian's chromium and qemu-user, playwright-core and the IAM evaluator from npm)
test: vet fmt-check synth-check go-test sim twin browser-test

# The twin's package runs in `make twin`, with its report.
GO_TEST_PKGS = $(shell $(GO) list ./... | grep -v /shared/aws/twin)
go-test: tools iam-tools
	$(GO) test -count=1 -timeout 20m $(GO_TEST_PKGS)

## sim: the deterministic simulation of the task logic (shared/sim): SEEDS schedules (default 2000,
## the batch make test runs) on all cores, with per-invariant counts and the shortest failing seed of
## each; SEED=k replays one schedule step by step
SEEDS ?= 2000
sim:
	@if [ -n "$(SEED)" ]; then $(GO) run ./cmd/sparkflow-sim -seed $(SEED); else $(GO) run ./cmd/sparkflow-sim -seeds $(SEEDS); fi

## twin: the synthesized stack deployed into the AWS twin and run end to end: the Backend contract,
## the scenario suite both homes run, the CLI and UI, IAM evaluated for every call; one line per
## scenario and a twin-summary JSON line (see README, "How the AWS home is tested")
twin: synth twin-tools
	python3 -m unittest -q tools/twin/test_patches.py
	@mkdir -p dist; set -o pipefail; $(GO) test -count=1 -timeout 30m -v -run '^TestTwin$$' ./shared/aws/twin | tee dist/twin-test.log | grep --line-buffered -E '^(twin|---|    ---|        [a-z_]+\.go)' ; \
	  status=$${PIPESTATUS[0]}; [ $$status = 0 ] || echo "the twin's whole test output: dist/twin-test.log"; exit $$status

twin-tools:
	./scripts/twin-tools.sh

## iam-tools: the offline IAM evaluator (npm ci, pinned by tools/twin/iam/package-lock.json), for the
## template's policy tests and the twin
iam-tools:
	@[ -d tools/twin/iam/node_modules/@cloud-copilot/iam-simulate ] || (cd tools/twin/iam && npm ci --no-audit --no-fund --silent)

## tools: what the emulator tests need beyond Go (moto_server comes preinstalled with pip)
tools:
	./scripts/dynamodb-local.sh

browser-test:
	./e2e/run.sh

## lambdas: one bootstrap per function for provided.al2023 on arm64, each checked to be at most 12 MB;
## built reproducibly (-trimpath, no build id), so a redeploy of unchanged code changes no asset hash
FUNCTIONS    := $(notdir $(wildcard functions/*))
LAMBDA_MAX   := 12582912
lambdas:
	@for f in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -tags lambda.norpc -ldflags "-s -w -buildid=" -o dist/lambdas/$$f/bootstrap ./functions/$$f || exit 1; \
	  if grep -q "$(CURDIR)" dist/lambdas/$$f/bootstrap; then echo "lambda $$f embeds the checkout path: its asset hash would differ between checkouts" >&2; exit 1; fi; \
	  size=$$(stat -c %s dist/lambdas/$$f/bootstrap); \
	  echo "lambda $$f: $$size bytes"; \
	  if [ $$size -gt $(LAMBDA_MAX) ]; then echo "lambda $$f is over 12 MB" >&2; exit 1; fi; \
	done

## synth: the CloudFormation template in cdk.out/, offline and without credentials
CDK := tools/cdk/node_modules/.bin/cdk
cdk-tools:
	@[ -x $(CDK) ] || (cd tools/cdk && npm ci --no-audit --no-fund --silent)

# CDK_CONTEXT: the deployment's settings, e.g. make synth CDK_CONTEXT="-c logUri=s3://my-logs/emr/ -c codeBuckets=my-jars"
CDK_CONTEXT ?=
synth: lambdas cdk-tools
	rm -rf cdk.out
	CDK_DISABLE_VERSION_CHECK=true $(CDK) synth --quiet --no-notices --no-version-reporting $(CDK_CONTEXT)

## synth-check: the synthesized template passes cfn-lint and its state machines pass asl-validator
synth-check: synth
	./scripts/check-template.sh cdk.out/SparkFlow.template.json

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

race:
	$(GO) test -count=1 -race ./shared/...

## bench: the Go benchmarks (a run's store writes under a burst, listings at 100,000 runs, a
## reservation, the FIFO's head, the local clusters' own cost of a step)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./shared/...

## bench-load: the embedded engine under load (sparkflow bench: bursts, an offered rate, CPU per run
## against history, listings at 100,000 runs); a table and a bench-summary JSON line (BENCHMARKS.md)
bench-load: build
	./$(BIN)/sparkflow bench

## bench-scheduling: SparkFlow's mean queue wait on a virtual clock, against Erlang C's M/M/c floor and
## the seed's policy (stale counts, a queue per cluster), loads 0.5-0.95, equal and heavy-tailed sizes
bench-scheduling:
	$(GO) run ./cmd/sparkflow-sim -queueing

## bench-scaling: an elastic pool's cluster-hours and waits over 30 simulated days, against the same
## pool fixed at its maximum, the clairvoyant bound and the best clairvoyant schedule (virtual clock,
## SparkFlow's own decisions; about 2 minutes)
bench-scaling:
	$(GO) run ./cmd/sparkflow-sim -scaling

clean:
	rm -rf $(BIN) dist e2e/out cdk.out
