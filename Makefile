# credstats: `make run` and `make test` set up everything they need.

GO        ?= go
BIN       := bin/credstats
# The service `make run` starts, and the ClickHouse it uses or starts.
LISTEN    ?= :8080
CH_PORT   ?= 9000
CH_HTTP   ?= 8123
CLICKHOUSE ?= clickhouse://127.0.0.1:$(CH_PORT)/credstats
# Private ports for the tests, so a developer's own server is never touched.
TEST_CH_PORT ?= 19000
TEST_CH_HTTP ?= 18123
TEST_LISTEN  ?= 127.0.0.1:18180
FUZZTIME     ?= 10s

export CREDSTATS_TEST_CLICKHOUSE := clickhouse://127.0.0.1:$(TEST_CH_PORT)

.PHONY: test-cluster bench chaos run test build fmt vet unit fuzz beacon beacon-deps echarts echarts-deps test-browser clickhouse-test stop clean

run: build
	@scripts/clickhouse.sh ensure run $(CH_PORT) $(CH_HTTP)
	$(BIN) serve --listen $(LISTEN) --clickhouse $(CLICKHOUSE) --data-dir .local/data

build:
	@command -v $(GO) >/dev/null || { echo "credstats: Go is missing: install Go 1.26 or newer from https://go.dev/dl/"; exit 1; }
	$(GO) build -o $(BIN) ./cmd/credstats

test: vet clickhouse-test unit fuzz test-browser
	@if [ "$(CREDSTATS_SKIP_CLUSTER)" = 1 ]; then echo "make test: cluster tests skipped (CREDSTATS_SKIP_CLUSTER=1)"; \
	else $(MAKE) --no-print-directory test-cluster CLUSTER_TESTS=short; fi
	@echo "make test: all passed"

clickhouse-test:
	@scripts/clickhouse.sh ensure test $(TEST_CH_PORT) $(TEST_CH_HTTP)

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target briefly, as package:target; go test takes one target per run.
# Go 1.26's fuzzer can end a run at -fuzztime with a bare "context deadline
# exceeded" and no failing input (go.dev/issue/75804, fixed in Go 1.27): such
# a run is repeated once. A run that found an input writes it to testdata and
# fails again, since the next run replays it first.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; for t in \
		./internal/event:FuzzDecode ./internal/event:FuzzDecodeFlat ./internal/event:FuzzDecodeBinary \
		./internal/spool:FuzzOpen ./internal/spool:FuzzDecodeCheckpoint \
		./internal/dedup:FuzzReadFrom ./collector:FuzzReadCoverage \
		./aggregator/query:FuzzDecodeQuery \
		./internal/auth:FuzzParseSession ./dashboard:FuzzParseState \
		./internal/edge:FuzzClientIP ./internal/auth:FuzzLinkToken ./internal/registry:FuzzDecode \
		./lifecycle:FuzzCheck ./internal/arrival:FuzzOf ./internal/arrival:FuzzCrawler \
		./internal/event:FuzzPlainHostPath ./internal/event:FuzzUvarint; do \
		fuzz() { rc=0; $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}" >"$$log" 2>&1 || rc=$$?; cat "$$log"; return $$rc; }; \
		if ! fuzz; then \
			if grep -q 'context deadline exceeded' "$$log" && ! grep -q 'Failing input written' "$$log"; then \
				echo "fuzz: $$t stopped at -fuzztime without a failing input (go.dev/issue/75804): running it again"; fuzz; \
			else exit 1; fi; \
		fi; \
	done

beacon-deps:
	@scripts/deps.sh
	cd beacon-js && npm ci --no-audit --no-fund --loglevel=error

# Rebuilds beacon-js/dist/beacon.min.js from its source; commit the result.
beacon: beacon-deps
	cd beacon-js && node build.mjs

echarts-deps:
	@scripts/deps.sh
	cd dashboard/echarts-build && npm ci --no-audit --no-fund --loglevel=error

# Rebuilds the dashboard's own ECharts (dashboard/assets/echarts.min.js, its
# zopfli .gz and echarts.LICENSE) from the npm package, with only the charts
# the dashboard draws; commit the results.
echarts: echarts-deps
	cd dashboard/echarts-build && node build.mjs

test-browser: build beacon-deps echarts-deps clickhouse-test
	scripts/test-browser.sh $(BIN) $(TEST_LISTEN) $(TEST_CH_PORT) $(TEST_CH_HTTP)

# The fault tests at length: SIGKILLs under load, ClickHouse outages, cut
# connections, a damaged spool, a full disk. `make test` runs them short.
chaos: clickhouse-test
	CREDSTATS_CHAOS=1 $(GO) test -count=1 -v -timeout 30m -run . ./test/chaos 2>&1 | grep -E '^(=== RUN|--- |\s+chaos_test.go:.*(did|found):|PASS|FAIL|ok)'

# The load benchmark: figures as ratios against baselines measured in the
# same run, printed and written to bench/results/latest.json.
# BENCH_FLAGS=--quick checks the benchmark itself in a minute.
bench:
	@scripts/clickhouse.sh ensure bench 19300 18323
	$(GO) run ./bench $(BENCH_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# The cluster tests (test/cluster) on loopback: ZooKeeper, four ClickHouse
# servers as two shards of two replicas and nginx, started by
# scripts/cluster.sh (left running; `make stop` stops them), with two
# collectors behind nginx. CLUSTER_TESTS=short (as `make test` runs them)
# keeps a shard down 10 s instead of 30 s.
CLUSTER_TESTS ?= full
test-cluster: clickhouse-test
	@scripts/cluster.sh start
	CREDSTATS_TEST_CLUSTER=$(CLUSTER_TESTS) $(GO) test -count=1 -v -timeout 20m ./test/cluster

# Stops the ClickHouse servers that run and test started, and the cluster.
stop:
	-scripts/clickhouse.sh stop run
	-scripts/clickhouse.sh stop test
	-scripts/cluster.sh stop

clean: stop
	rm -rf bin .local
