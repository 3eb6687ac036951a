#!/usr/bin/env bash
# Redis 7.0.15's own test suite (from Debian's source package, fetched by
# scripts/redis-suite.sh) in external mode against `pmem serve`, one fresh
# server and store per unit. Prints the counts per unit and writes them to
# .test-results/redis.json; the logs go to .test-results/redis/.
#
# Tests an external server cannot run are left out by the suite's own tags
# (external:skip, and --tags -needs:repl -needs:config-maxmemory: no
# replication, no eviction); the others that are left out are listed with
# their reasons in scripts/redis-suite-skips.tsv. Every test that runs must pass.
# Then scripts/redis-diff.js sends the same commands to redis-server and to
# pmem serve and fails on any reply that differs.
# Extra arguments: the units to run (default: all of UNITS). REDIS_SUITE_BASEPORT
# moves the suite's own ports (two runs on one machine need different ones).
set -uo pipefail
cd "$(dirname "$0")/.."
UNITS=(unit/type/string unit/type/incr unit/type/hash unit/type/set unit/keyspace unit/scan unit/expire unit/multi unit/pubsub unit/protocol unit/info unit/auth
  unit/type/list unit/type/list-2 unit/type/list-3 unit/type/zset unit/pause unit/sort unit/bitops unit/bitfield unit/slowlog unit/geo unit/hyperloglog)
[ $# -gt 0 ] && UNITS=("$@")

suite=$(bash scripts/redis-suite.sh) || exit 1
bash scripts/setup.sh || exit 1
out=.test-results/redis
mkdir -p "$out"
work="/dev/shm/pmem-redis-suite-$$"
mkdir -p "$work"
server=""
stop_server() {
  if [ -n "$server" ]; then
    # SIGTERM closes it cleanly; a server stuck in a command gets SIGKILL after 5 s.
    kill "$server" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server" 2>/dev/null
    wait "$server" 2>/dev/null
  fi
  server=""
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# The skip list, as names for the suite's --skipfile (reasons stay in the .tsv).
grep -v '^#' scripts/redis-suite-skips.tsv | awk -F'\t' 'NF >= 2 { print $2 }' > "$work/skipfile"

status=0
results="{"
for unit in "${UNITS[@]}"; do
  name=${unit//\//_}
  rm -f "$work/store.kv"
  node bin/pmem serve --port 0 --file "$work/store.kv" --enable-debug-command yes > "$out/$name.server.log" 2>&1 &
  server=$!
  port=""
  for _ in $(seq 1 600); do
    port=$(sed -n 's/^address: *127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/$name.server.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "$port" ]; then echo "$unit: the server did not start"; cat "$out/$name.server.log"; status=1; stop_server; continue; fi
  (cd "$suite" && ./runtest --host 127.0.0.1 --port "$port" --singledb --ignore-encoding --ignore-digest \
      --tags -needs:repl --tags -needs:config-maxmemory --skipfile "$work/skipfile" --timeout 600 ${REDIS_SUITE_BASEPORT:+--baseport "$REDIS_SUITE_BASEPORT"} --single "$unit") \
    > "$out/$name.log" 2>&1
  rc=$?
  stop_server
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$out/$name.log")
  ok=$(grep -c '^\[ok\]:' <<<"$clean")
  err=$(grep -c '^\[err\]:' <<<"$clean")
  exc=$(grep -c '^\[exception\]:' <<<"$clean")
  skip=$(grep -c '^\[skip\]:' <<<"$clean")
  ign=$(grep -c '^\[ignore\]:' <<<"$clean")
  failed=$((err + exc))
  if [ $rc -ne 0 ] && [ $failed -eq 0 ]; then failed=1; fi
  [ $failed -ne 0 ] && status=1
  printf '%-18s %3d passed, %d failed, %d excluded (listed), %d skipped by tag\n' "$unit" "$ok" "$failed" "$skip" "$ign"
  grep -E '^\[(err|exception)\]:' <<<"$clean" | sed 's/^/    /'
  [ "$results" != "{" ] && results+=","
  results+="\"$unit\":{\"passed\":$ok,\"failed\":$failed,\"excluded\":$skip,\"skippedByTag\":$ign}"
done
results+="}"
echo "$results" > .test-results/redis.json
node -e '
const r = JSON.parse(require("fs").readFileSync(".test-results/redis.json", "utf8"));
let p = 0, f = 0;
for (const u of Object.values(r)) { p += u.passed; f += u.failed; }
console.log(`redis suite: ${p} passed, ${f} failed`);'
# The same commands to redis-server and pmem serve, arguments at their edges.
node scripts/redis-diff.js > "$out/redis-diff.log" 2>&1 || status=1
tail -n 20 "$out/redis-diff.log"
exit $status
