# SparkFlow. `make demo` runs the main job on the embedded engine; `make test` runs every test.
GO       ?= go
BIN      := bin
GOFLAGS  ?= -buildvcs=false
export GOFLAGS

.PHONY: all build demo check check-test test go-test browser-test tools lambdas cdk-tools synth synth-check deploy-smoke vet fmt-check race bench clean

all: build

build:
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

## test: go vet, gofmt check, every Go test (unit, contract suites, end-to-end, CLI, kill -9 restart),
## then the web UI in a real browser (installs Debian's chromium and playwright-core when missing)
test: vet fmt-check go-test synth-check deploy-smoke browser-test

go-test: tools
	$(GO) test -count=1 -timeout 20m ./...

## tools: what the emulator tests need beyond Go (moto_server comes preinstalled with pip)
tools:
	./scripts/dynamodb-local.sh

browser-test:
	./e2e/run.sh

## lambdas: one bootstrap per function for provided.al2023 on arm64, each checked to be at most 12 MB
FUNCTIONS    := $(notdir $(wildcard functions/*))
LAMBDA_MAX   := 12582912
lambdas:
	@for f in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -ldflags "-s -w" -o dist/lambdas/$$f/bootstrap ./functions/$$f || exit 1; \
	  size=$$(stat -c %s dist/lambdas/$$f/bootstrap); \
	  echo "lambda $$f: $$size bytes"; \
	  if [ $$size -gt $(LAMBDA_MAX) ]; then echo "lambda $$f is over 12 MB" >&2; exit 1; fi; \
	done

## synth: the CloudFormation template in cdk.out/, offline and without credentials
CDK := tools/cdk/node_modules/.bin/cdk
cdk-tools:
	@[ -x $(CDK) ] || (cd tools/cdk && npm ci --no-audit --no-fund --silent)

synth: lambdas cdk-tools
	CDK_DISABLE_VERSION_CHECK=true $(CDK) synth --quiet --no-notices --no-version-reporting

## synth-check: the synthesized template passes cfn-lint and its state machines pass asl-validator
synth-check: synth
	./scripts/check-template.sh cdk.out/SparkFlow.template.json

## deploy-smoke: cdk bootstrap + cdk deploy into moto; the stack's outputs resolve; a run request round-trips
deploy-smoke: synth
	./scripts/deploy-smoke.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

race:
	$(GO) test -count=1 -race ./shared/...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf $(BIN) dist e2e/out cdk.out
