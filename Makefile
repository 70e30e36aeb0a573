# Build, test and run the partnertoken secrets engine.
#
#   make build      static plugin binary into bin/, with its version compiled in
#   make test       gofmt and go vet, unit tests (with -race), fuzz smoke
#                   runs, the alerting rules' tests with promtool, then the
#                   end-to-end suite against a real Vault (built once into
#                   .cache/, 10-20 min) and against OpenBao (BAO_BIN, bao on
#                   PATH or ../shared/openbao), with a real Prometheus; ends
#                   with a summary of what ran, what was skipped and why
#   make release    static binaries for four platforms, zipped, with
#                   SHA256SUMS and SBOMs, into dist/ (scripts/release.sh)
#   make dev        a Vault dev server with the plugin at partner/ and the
#                   partner simulator, configured; Ctrl-C stops it all
#                   (SERVER=openbao: the same on OpenBao)
#   make help       every target

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

PLUGIN  := vault-plugin-secrets-partnertoken
MODULE  := github.com/partnertoken/vault-plugin-secrets-partnertoken
# Evaluated once per make run, so build and register agree. On a commit
# tagged v1.2.3 it is v1.2.3; `make release VERSION=v1.2.3` chooses one.
VERSION := $(shell scripts/version.sh)
LDFLAGS := -X $(MODULE)/backend.Version=$(VERSION)

# The race detector needs cgo (a C compiler); without one the unit tests
# still run, without it.
RACE := $(if $(filter 1,$(shell go env CGO_ENABLED)),-race,)

# The end-to-end suite runs its own copy of the plugin, so a running
# `make dev` is not disturbed when the tests rebuild it.
E2E_PLUGIN_DIR := $(CURDIR)/.cache/e2e/plugins
E2E_TIMEOUT    ?= 45m
# Extra flags for the e2e `go test`, e.g. E2E_FLAGS='-run TestAgent -v';
# verbose in CI, so the log shows each test as it runs.
E2E_FLAGS      ?= $(if $(CI),-v,)
# The servers `make test-e2e` runs the suite against, one after the other;
# SERVER=vault or SERVER=openbao picks one (also for `make dev`).
SERVER         ?=
E2E_SERVERS    ?= $(or $(SERVER),vault openbao)

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-17s %s\n", $$1, $$2 }'

.PHONY: build
build: bin/$(PLUGIN) ## Build the static plugin into bin/ with the version (scripts/version.sh) compiled in; prints the register command.

# Rebuilt whenever make runs (the version may change with a commit or an
# edit); go's build cache makes an unchanged rebuild cheap.
.PHONY: bin/$(PLUGIN)
bin/$(PLUGIN):
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $@ .
	@echo "built $@ $(VERSION); once it is in Vault's plugin_directory, register it with:"
	@echo "  vault plugin register -sha256=$$(sha256sum $@ | cut -d' ' -f1) -version=$(VERSION) secret $(PLUGIN)"

.PHONY: version
version: ## Print the version make build and make release compile in.
	@echo "$(VERSION)"

.PHONY: release
release: ## Release artifacts into dist/: static zips for linux and darwin (amd64, arm64), SHA256SUMS, BINARY_SHA256SUMS, CycloneDX SBOMs.
	VERSION="$(VERSION)" scripts/release.sh

# Every Go file of every module (root, tests/, tools/*), tracked or new.
GO_FILES = $$(git ls-files --cached --others --exclude-standard -- '*.go')

.PHONY: fmt
fmt: ## Format the Go code of every module.
	gofmt -s -w $(GO_FILES)

.PHONY: vet
vet: ## Vet the engine and the end-to-end suite.
	go vet ./...
	cd tests && go vet ./...

# tools/* hold only a blank import of the program each builds, which go vet
# cannot check (a main package is not importable); gofmt covers them.
.PHONY: check
check: ## Fail on gofmt differences (gofmt -s) in any module and on go vet findings in the engine and tests/.
	@unformatted="$$(gofmt -s -l $(GO_FILES))"; \
	if [[ -n "$$unformatted" ]]; then \
	  echo "gofmt -s would change these files (run make fmt):" >&2; \
	  echo "$$unformatted" | sed 's/^/  /' >&2; \
	  gofmt -s -d $$unformatted >&2; \
	  exit 1; \
	fi
	$(MAKE) --no-print-directory vet

# scripts/test.sh runs the passes below through make, one after the other,
# and prints the summary.
.PHONY: test
test: ## The whole suite: gofmt and go vet (make check), unit tests with -race, fuzz smoke runs, the alerting rules' tests (promtool), then the end-to-end tests against Vault and OpenBao; a summary at the end.
	@MAKE="$(MAKE)" E2E_SERVERS="$(E2E_SERVERS)" scripts/test.sh

.PHONY: test-unit
test-unit: ## Unit tests of the engine (go test -race ./...).
ifeq ($(RACE),)
	@echo "warning: no C compiler for cgo, running the unit tests without -race" >&2
endif
	go test $(RACE) ./...

# How much each fuzz target runs in `make test-fuzz` (its seed corpus also
# runs in every `go test`). A count, not a duration: with a duration, Go 1.26
# can fail a target with a bare "context deadline exceeded" when the time is
# up while a worker is busy (golang/go#75804, fixed in Go 1.27). 100000
# executions take about 10 s on two cores.
FUZZTIME ?= 100000x

.PHONY: test-fuzz
test-fuzz: ## Run every fuzz target of the engine briefly (FUZZTIME each, default 100000x).
	@for pkg in $$(go list ./...); do \
	  for target in $$(go test -list '^Fuzz' "$$pkg" | grep '^Fuzz' || true); do \
	    echo "fuzz: $$target ($$pkg) for $(FUZZTIME)"; \
	    go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	  done; \
	done

# promtool and the Prometheus server come from scripts/get-prometheus.sh,
# built once into .cache/bin from the Go module proxy.
ALERT_RULES := deploy/prometheus/partnertoken.rules.yml

.PHONY: test-rules
test-rules: ## Check the Prometheus alerting rules (promtool check rules) and run their unit tests in deploy/prometheus/tests/ (promtool test rules).
	@promtool="$$(scripts/get-prometheus.sh | sed -n 1p)"; \
	"$$promtool" check rules $(ALERT_RULES); \
	"$$promtool" test rules deploy/prometheus/tests/*.test.yml

.PHONY: test-e2e
test-e2e: ## End-to-end tests in tests/ (a real server, the plugin, the simulator, an Agent, OpenTofu) against Vault, then OpenBao (SERVER=vault|openbao: one of them).
	@failed=(); \
	for server in $(E2E_SERVERS); do \
	  $(MAKE) --no-print-directory "test-e2e-$$server" || failed+=("$$server"); \
	done; \
	if (( $${#failed[@]} )); then echo "the end-to-end tests failed against: $${failed[*]}" >&2; exit 1; fi

.PHONY: test-e2e-vault
test-e2e-vault: e2e-plugin ## End-to-end tests against a real Vault dev server, its Agent and a 3-node Raft cluster.
	@vault="$$(scripts/get-vault.sh)"; \
	server=vault; \
	$(E2E_TOFU) \
	$(E2E_PROMETHEUS) \
	cd tests && \
	PARTNERTOKEN_E2E_SERVER=vault \
	PARTNERTOKEN_E2E_VAULT_BIN="$$vault" \
	$(E2E_GO_TEST)

# OpenBao is BAO_BIN, bao on PATH, or unpacked from ../shared/openbao
# (scripts/get-openbao.sh). Without any, this pass is skipped with a
# warning, except in CI, where it fails; either way it tells the summary of
# `make test` (scripts/test.sh) why.
.PHONY: test-e2e-openbao
test-e2e-openbao: e2e-plugin ## The same end-to-end tests against OpenBao (BAO_BIN, else bao on PATH, else ../shared/openbao).
	@status=0; bao="$$(scripts/get-openbao.sh)" || status=$$?; \
	if [[ $$status == 2 ]]; then \
	  echo "WARNING: the end-to-end tests did NOT run against OpenBao$(if $(CI), (a failure: CI is set)): $$bao" >&2; \
	  if [[ -n "$${PARTNERTOKEN_SUMMARY_DIR:-}" ]]; then echo "$(if $(CI),failed,skipped) $$bao" >"$$PARTNERTOKEN_SUMMARY_DIR/e2e-openbao"; fi; \
	  exit $(if $(CI),2,0); \
	fi; \
	[[ $$status == 0 ]] || exit $$status; \
	server=openbao; \
	$(E2E_TOFU) \
	$(E2E_PROMETHEUS) \
	cd tests && \
	PARTNERTOKEN_E2E_SERVER=openbao \
	PARTNERTOKEN_E2E_BAO_BIN="$$bao" \
	$(E2E_GO_TEST)

# The plugin binary both passes run, and how they run the suite: with
# OpenTofu (its binary, then its CLI config) for TestTerraform, or why the
# Vault provider it needs is unavailable, which the test turns into a skip
# with a warning, or a failure in CI.
.PHONY: e2e-plugin
e2e-plugin:
	@mkdir -p "$(E2E_PLUGIN_DIR)"
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o "$(E2E_PLUGIN_DIR)/$(PLUGIN)" .
	@echo "$(VERSION)" > "$(E2E_PLUGIN_DIR)/../plugin-version"

E2E_TOFU = tf_status=0; tf="$$(scripts/get-terraform.sh)" || tf_status=$$?; \
	if [[ $$tf_status == 2 ]]; then \
	  tf_unavailable="$$tf" tf=""; \
	  echo "WARNING: TestTerraform will $(if $(CI),FAIL (CI is set),be SKIPPED): $$tf_unavailable" >&2; \
	elif [[ $$tf_status != 0 ]]; then \
	  echo "test-e2e: OpenTofu or the Vault provider could not be obtained (see above): TestTerraform will fail" >&2; \
	fi;

# The Prometheus server for TestPrometheus; without it the test is skipped
# with a warning, or fails in CI.
E2E_PROMETHEUS = prom="$$(scripts/get-prometheus.sh | sed -n 2p)" || \
	echo "WARNING: no Prometheus server (see above): TestPrometheus will $(if $(CI),FAIL (CI is set),be SKIPPED)" >&2;

E2E_GO_TEST = PARTNERTOKEN_E2E_PLUGIN_DIR="$(E2E_PLUGIN_DIR)" \
	PARTNERTOKEN_E2E_PROMETHEUS_BIN="$${prom:-}" \
	PARTNERTOKEN_E2E_PROMETHEUS_RESULT="$${PARTNERTOKEN_SUMMARY_DIR:+$$PARTNERTOKEN_SUMMARY_DIR/prometheus-$$server}" \
	PARTNERTOKEN_E2E_PLUGIN_VERSION="$(VERSION)" \
	PARTNERTOKEN_E2E_TOFU_BIN="$$(sed -n 1p <<<"$${tf:-}")" \
	PARTNERTOKEN_E2E_TF_CLI_CONFIG="$$(sed -n 2p <<<"$${tf:-}")" \
	PARTNERTOKEN_E2E_TERRAFORM_UNAVAILABLE="$${tf_unavailable:-}" \
	PARTNERTOKEN_E2E_TERRAFORM_RESULT="$${PARTNERTOKEN_SUMMARY_DIR:+$$PARTNERTOKEN_SUMMARY_DIR/terraform-$$server}" \
	go test -count=1 -timeout $(E2E_TIMEOUT) $(E2E_FLAGS) ./...

.PHONY: dev
dev: ## Run Vault (dev mode; SERVER=openbao: OpenBao) with the plugin at partner/ and the partner simulator; Ctrl-C stops them.
	VERSION="$(VERSION)" SERVER="$(or $(SERVER),vault)" scripts/dev.sh

.PHONY: bench
bench: ## Measure the plugin through a real Vault against its goals (BENCHMARKS.md); not part of make test.
	VERSION="$(VERSION)" scripts/bench.sh

.PHONY: vault
vault: ## Obtain the Vault binary (build it into .cache/bin once, or use VAULT_BIN) and print its path.
	@scripts/get-vault.sh

.PHONY: prometheus
prometheus: ## Obtain promtool and the Prometheus server (build them into .cache/bin once, or use PROMTOOL_BIN and PROMETHEUS_BIN) and print their paths.
	@scripts/get-prometheus.sh

.PHONY: openbao
openbao: ## Obtain the OpenBao binary (BAO_BIN, bao on PATH, or unpack ../shared/openbao into .cache/bin once) and print its path.
	@scripts/get-openbao.sh

.PHONY: clean
clean: ## Remove build output and test leftovers; keeps the Vault, OpenBao, OpenTofu and Prometheus binaries in .cache/.
	rm -rf bin dist .cache/dev .cache/e2e .cache/test-summary tests/.work

.PHONY: distclean
distclean: clean ## Also remove .cache/ with the Vault, OpenBao, OpenTofu and Prometheus binaries (the next test or dev obtains them again).
	rm -rf .cache
