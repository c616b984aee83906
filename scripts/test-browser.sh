#!/usr/bin/env bash
# Runs the browser tests of the beacon and of the dashboard against one real
# `credstats serve` on a fresh database of the test ClickHouse, then stops
# the server.
set -euo pipefail
bin=$1 listen=$2 ch_port=$3 ch_http=$4
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
db="browser_$(date +%s)_$$"
data=$(mktemp -d)
log="$data/serve.log"

"$bin" serve --listen "$listen" --clickhouse "clickhouse://127.0.0.1:$ch_port/$db" --data-dir "$data" --flush-interval 200ms >"$log" 2>&1 &
pid=$!
cleanup() {
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	curl -s "http://127.0.0.1:$ch_http/" --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null || true
	rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
	curl -fs "http://$listen/readyz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { echo "credstats serve did not start:"; cat "$log"; exit 1; }
	sleep 0.1
done
curl -fs "http://$listen/readyz" >/dev/null || { echo "credstats serve is not ready:"; cat "$log"; exit 1; }

cd "$root/beacon-js"
CREDSTATS_URL="http://$listen" CREDSTATS_CH_HTTP="http://127.0.0.1:$ch_http" CREDSTATS_CH_DB="$db" \
	node --test test/*.test.mjs || { echo "--- credstats serve log"; tail -50 "$log"; exit 1; }

# The dashboard's tests seed their own events, make keys and shared links
# with the same binary, and write screenshots to dashboard/test/artifacts/.
cd "$root/dashboard/test"
if [[ ! -d node_modules/playwright-core || package-lock.json -nt node_modules/.package-lock.json ]]; then
	npm ci --no-audit --no-fund --loglevel=error
fi
CREDSTATS_URL="http://$listen" CREDSTATS_CH_HTTP="http://127.0.0.1:$ch_http" CREDSTATS_CH_DB="$db" \
	CREDSTATS_BIN="$bin" CREDSTATS_CLICKHOUSE="clickhouse://127.0.0.1:$ch_port/$db" CREDSTATS_DATA_DIR="$data" \
	node --test --test-concurrency=1 ./*.test.mjs || { echo "--- credstats serve log"; tail -50 "$log"; exit 1; }
