#!/bin/sh
# Restores a backup made by scripts/backup.sh into a database that the same
# credstats version created with `credstats migrate` and that holds no
# events yet. The materialized views are detached while the tables are
# filled, so the rollups are restored as they were (months past the
# retention included) rather than counted again from the raw events.
#
#   scripts/restore.sh DIR [clickhouse-client options, e.g. --host H --port 9000]
#
# CREDSTATS_DB names the database (default credstats).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DIR [clickhouse-client options]" >&2; exit 2; }
dir=$1; shift
db=${CREDSTATS_DB:-credstats}
ch() { clickhouse-client "$@"; }
have=$(ch "$@" --query "SELECT max(version) FROM $db.schema_migrations")
want=$(cat "$dir/schema_version")
[ "$have" = "$want" ] || { echo "$0: the backup has schema version $want, $db has $have: migrate with the credstats version that made the backup" >&2; exit 1; }
[ "$(ch "$@" --query "SELECT count() FROM $db.events")" = 0 ] || { echo "$0: $db.events is not empty: restore into a fresh database" >&2; exit 1; }
views=$(ch "$@" --query "SELECT name FROM system.tables WHERE database = '$db' AND engine = 'MaterializedView'")
attach() { for v in $views; do ch "$@" --query "ATTACH TABLE $db.$v" 2>/dev/null || true; done; }
trap 'attach "$@"' EXIT
for v in $views; do ch "$@" --query "DETACH TABLE $db.$v"; done
for f in "$dir"/*.native; do
	t=$(basename "$f" .native)
	# The migration recorded the schema version already.
	[ "$t" = schema_migrations ] && continue
	# An empty table's dump is empty, and ClickHouse refuses an empty insert.
	[ -s "$f" ] || continue
	ch "$@" --query "INSERT INTO $db.$t FORMAT Native" < "$f"
	echo "$t: restored"
done
