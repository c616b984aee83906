#!/bin/sh
# Backs up a credstats database with clickhouse-client, one file a table
# (SELECT * ... FORMAT Native), which works from ClickHouse 18.16 (it has no
# BACKUP statement) to current releases.
#
#   scripts/backup.sh DIR [clickhouse-client options, e.g. --host H --port 9000]
#
# CREDSTATS_DB names the database (default credstats). Stop credstats (or
# its collectors) first for a backup whose raw events and rollups agree to
# the event; the data folder (--data-dir) is copied separately.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DIR [clickhouse-client options]" >&2; exit 2; }
dir=$1; shift
db=${CREDSTATS_DB:-credstats}
ch() { clickhouse-client "$@"; }
mkdir -p "$dir"
tables=$(ch "$@" --query "SELECT name FROM system.tables WHERE database = '$db' AND engine NOT LIKE '%View' AND name NOT LIKE 'lifecycle\\_%' ORDER BY name")
[ -n "$tables" ] || { echo "$0: database $db has no tables" >&2; exit 1; }
for t in $tables; do
	ch "$@" --query "SELECT * FROM $db.$t FORMAT Native" > "$dir/$t.native"
	echo "$t: $(ch "$@" --query "SELECT count() FROM $db.$t") rows"
done
ch "$@" --query "SELECT max(version) FROM $db.schema_migrations" > "$dir/schema_version"
