#!/usr/bin/env bash
# Installs what `make test` needs beyond Go: Node.js with npm (browser tests)
# and Debian's chromium. ClickHouse is scripts/clickhouse.sh's business.
set -euo pipefail

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "credstats: the tests need ${missing[*]}; install them as root (needs Debian's package mirror):" >&2
	echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing ${missing[*]} from Debian's packages"
if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	apt-get update -q
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
