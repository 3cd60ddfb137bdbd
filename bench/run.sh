#!/usr/bin/env bash
# HTTP/1.1 benchmark of spoke against three nginx "pods" on loopback (docs/benchmarks.md).
#
#   bash bench/run.sh                 # or: npm run bench
#   BENCH_PROFILE=1 bash bench/run.sh # also a V8 CPU profile of spoke, top functions printed
#
# Knobs: BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_CONNECTIONS (50), BENCH_NODE_FLAGS (none).
# Writes bench/out/results.md (bench/out/results-profile.md with BENCH_PROFILE=1).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNECTIONS:-50}
PROFILE=${BENCH_PROFILE:-0}
[[ $DURATION =~ ^[0-9]+s$ && $WARMUP =~ ^[0-9]+s$ ]] || { echo "bench: BENCH_DURATION and BENCH_WARMUP are whole seconds, like 10s" >&2; exit 1; }
SERVICE=pods.bench.svc.cluster.local
POD_IPS=(127.0.0.2 127.0.0.3 127.0.0.4)
OUT=bench/out

die() { echo "bench: $*" >&2; exit 1; }

for tool in wrk nginx node curl taskset timeout; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' not found. On Debian/Ubuntu: apt-get install wrk nginx-light curl util-linux coreutils (and Node >= 22.18)"
done
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' ||
  die "Node >= 22.18 is needed to run the TypeScript sources (found $(node --version))"

# bin/spoke.js runs the compiled dist/, which `npm run bench` builds first.
if grep -q 'dist/' bin/spoke.js; then
  [ -f dist/cli.js ] || die "dist/ is missing: run 'npm run build' first (or 'npm run bench', which builds)"
  [ -z "$(find src -name '*.ts' -newer dist/cli.js -print -quit)" ] ||
    echo "bench: warning: src/ is newer than dist/; 'npm run build' to measure the current code" >&2
fi

# Spoke gets core 0 to itself; load generator and pods share core 1, so the client and the pods
# never steal the proxy's CPU.
if [ "$(nproc)" -ge 2 ]; then
  PIN_SPOKE=(taskset -c 0)
  PIN_LOAD=(taskset -c 1)
else
  echo "bench: only $(nproc) core; running unpinned, results will understate spoke" >&2
  PIN_SPOKE=()
  PIN_LOAD=()
fi

# Taken before anything starts: the benchmark itself keeps about two cores busy.
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/spoke-bench.XXXXXX")
PIDS=()
# Once reaped, a PID may be reused by someone else's process: cleanup must not signal it.
forget() { local keep=() pid; for pid in "${PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done; PIDS=("${keep[@]}"); }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "timed out after ${seconds}s waiting for $what"
}

mkdir -p "$OUT"
read -r NGINX_PORT SPOKE_PORT ADMIN_PORT < <(node bench/ports.ts 3 "${POD_IPS[@]}" 127.0.0.1 | paste -sd' ') || true
[ -n "${ADMIN_PORT:-}" ] || die "could not find free ports on ${POD_IPS[*]} and 127.0.0.1"

# ---- pods: one nginx master, one worker, a server block per pod address --------------------
mkdir -p "$TMP/nginx"
{
  echo "worker_processes 1;"
  echo "pid $TMP/nginx/nginx.pid;"
  echo "error_log $TMP/nginx/error.log warn;"
  echo "events { worker_connections 4096; }"
  echo "http {"
  echo "  access_log off;"
  echo "  default_type text/plain;"
  # Pods behind spoke see long-lived connections; nginx's default of closing after 1000
  # requests would measure reconnects instead.
  echo "  keepalive_requests 10000000;"
  echo "  keepalive_timeout 300s;"
  for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $TMP/nginx/$d;"; done
  for i in "${!POD_IPS[@]}"; do
    echo "  server {"
    echo "    listen ${POD_IPS[$i]}:$NGINX_PORT;"
    echo "    add_header x-pod pod-$i;"
    echo "    location / { return 200 \"ok\\n\"; }"
    echo "  }"
  done
  echo "}"
} >"$TMP/nginx/nginx.conf"
"${PIN_LOAD[@]}" nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" -g 'daemon off;' \
  >"$TMP/nginx/stdout.log" 2>&1 &
PIDS+=($!)
for ip in "${POD_IPS[@]}"; do
  wait_until 10 "nginx on $ip:$NGINX_PORT" curl -sf "http://$ip:$NGINX_PORT/"
done

# ---- DNS: the headless Service's A records --------------------------------------------------
node bench/dns.ts "$SERVICE" "${POD_IPS[@]}" >"$TMP/dns.out" 2>&1 &
PIDS+=($!)
wait_until 10 "the DNS server" grep -q '^[0-9]' "$TMP/dns.out"
DNS_PORT=$(head -1 "$TMP/dns.out")

# ---- spoke ----------------------------------------------------------------------------------
cat >"$TMP/spoke.yaml" <<EOF
admin:
  address: 127.0.0.1:$ADMIN_PORT
shutdown:
  linger: 0s
  drainTimeout: 2s
dns:
  servers: ["127.0.0.1:$DNS_PORT"]
listeners:
  - name: bench
    address: 127.0.0.1:$SPOKE_PORT
    upstream: pods
upstreams:
  - name: pods
    service: $SERVICE
    port: $NGINX_PORT
    protocol: http1
EOF
# Extra Node/V8 flags for spoke, e.g. BENCH_NODE_FLAGS="--max-semi-space-size=2".
read -r -a NODE_FLAGS <<<"${BENCH_NODE_FLAGS:-}"
if [ "$PROFILE" = 1 ]; then
  rm -f "$OUT/spoke.cpuprofile"
  NODE_FLAGS+=(--cpu-prof "--cpu-prof-dir=$OUT" --cpu-prof-name=spoke.cpuprofile)
fi
# Started as the `spoke` executable, as users run it, so its shebang's V8 flags apply; extra
# flags travel in NODE_OPTIONS.
NODE_OPTIONS="${NODE_FLAGS[*]}" "${PIN_SPOKE[@]}" ./bin/spoke.js run -c "$TMP/spoke.yaml" --log-level warn >"$TMP/spoke.log" 2>&1 &
SPOKE_PID=$!
PIDS+=("$SPOKE_PID")
for _ in $(seq 150); do
  kill -0 "$SPOKE_PID" 2>/dev/null || { cat "$TMP/spoke.log" >&2; die "spoke exited during start-up"; }
  curl -sf "http://127.0.0.1:$ADMIN_PORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$ADMIN_PORT/ready" >/dev/null || die "spoke not ready after 15s"
curl -sf "http://127.0.0.1:$SPOKE_PORT/" >/dev/null || die "a request through spoke failed"

SPOKE_URL="http://127.0.0.1:$SPOKE_PORT/"
DIRECT_URL="http://${POD_IPS[0]}:$NGINX_PORT/"

# ---- helpers --------------------------------------------------------------------------------
# "utime stime" of spoke, in clock ticks: how busy the proxy really was, and how much of it
# the kernel (loopback TCP) took.
CLK_TCK=$(getconf CLK_TCK)
spoke_ticks() { awk '{ print $14, $15 }' "/proc/$SPOKE_PID/stat"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# "busy total" jiffies of cores 0 and 1 on one line. Core 0 far busier than spoke alone means
# another process (this machine is shared) ran on spoke's core during the run.
cores_jiffies() {
  awk '$1 == "cpu0" || $1 == "cpu1" { t = 0; for (i = 2; i <= 9; i++) t += $i; printf "%d %d ", t - $5 - $6, t }' /proc/stat
}

# run_wrk NAME CONNECTIONS URL: warm-up, then the measured run into $TMP/NAME.wrk.
run_wrk() {
  local name=$1 conns=$2 url=$3 secs=${DURATION%s}
  echo "bench: $name ($conns connection(s), ${DURATION} after ${WARMUP} warm-up)" >&2
  timeout $((${WARMUP%s} + 30)) "${PIN_LOAD[@]}" wrk -t1 -c"$conns" -d"$WARMUP" "$url" >/dev/null
  local ticks0 t0 cores0 ticks1 t1 cores1
  ticks0=$(spoke_ticks) t0=$(date +%s.%N) cores0=$(cores_jiffies)
  timeout $((secs + 30)) "${PIN_LOAD[@]}" wrk -t1 -c"$conns" -d"$DURATION" --latency "$url" >"$TMP/$name.wrk"
  ticks1=$(spoke_ticks) t1=$(date +%s.%N) cores1=$(cores_jiffies)
  echo "$ticks0 $ticks1" | awk -v hz="$CLK_TCK" -v secs="$(calc "%f" "$t1 - $t0")" \
    '{ printf "%.0f %.0f", 100 * ($3 + $4 - $1 - $2) / hz / secs, 100 * ($4 - $2) / hz / secs }' >"$TMP/$name.cpu"
  echo "$cores0 $cores1" | awk '{ printf "%.0f %.0f", 100 * ($5 - $1) / ($6 - $2), 100 * ($7 - $3) / ($8 - $4) }' >"$TMP/$name.cores"
}

# Core 0 is meant for spoke alone: busier than spoke itself (kernel networking on its behalf
# included) by more than 15 points means a stranger shared it and the run is suspect.
disturbed() {
  local spoke=0 core0
  [[ $1 == spoke-* ]] && read -r spoke _ <"$TMP/$1.cpu"
  read -r core0 _ <"$TMP/$1.cores"
  [ $((core0 - spoke)) -gt 15 ]
}

# wrk prints latencies as 812.00us, 1.23ms, 2.00s or 1.50m; everything becomes milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) { print "NaN"; exit 1 }
    printf "%.3f", n * f
  }'
}
rps() { awk '/^Requests\/sec:/ { print $2 }' "$TMP/$1.wrk"; }
pct() { to_ms "$(awk -v p="$2%" '$1 == p { print $2 }' "$TMP/$1.wrk")"; }
# Socket errors plus non-2xx answers: anything but 0 means the numbers are not comparable.
errors() {
  awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
       /Non-2xx or 3xx responses:/ { n += $5 }
       END { print n + 0 }' "$TMP/$1.wrk"
}
yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"no\" }"; }

# "address requests connections" per endpoint, from spoke's /endpoints.
endpoint_requests() {
  curl -sf "http://127.0.0.1:$ADMIN_PORT/endpoints" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const e of JSON.parse(s).upstreams[0].endpoints) console.log(e.endpoint, e.requests, e.connections)
    })'
}

# ---- measurements ---------------------------------------------------------------------------
run_wrk direct-$CONNS "$CONNS" "$DIRECT_URL"

RSS_IDLE_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SPOKE_PID/status")
# VmRSS sampled every 100 ms during the measured run only; the max is what the target is about.
: >"$TMP/rss.samples"
(
  while [ ! -e "$TMP/rss.stop" ]; do
    awk '/^VmRSS:/ { print $2 }' "/proc/$SPOKE_PID/status" >>"$TMP/rss.samples" 2>/dev/null || break
    sleep 0.1
  done
) &
RSS_SAMPLER=$!
PIDS+=("$RSS_SAMPLER")
run_wrk spoke-$CONNS "$CONNS" "$SPOKE_URL"
touch "$TMP/rss.stop"
wait "$RSS_SAMPLER" || true
forget "$RSS_SAMPLER"
RSS_MAX_KB=$(sort -n "$TMP/rss.samples" | tail -1)
# Where the memory sits right after the load: V8's heap spaces and memory outside the heap.
MEMORY_BREAKDOWN=$(curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '
  /^process_resident_memory_bytes / { rss = $2 }
  /^nodejs_heap_space_size_total_bytes\{space="new"\}/ { newspace = $2 }
  /^nodejs_heap_space_size_total_bytes\{space="old"\}/ { old = $2 }
  /^nodejs_heap_space_size_total_bytes\{space="code"\}/ { code = $2 }
  /^nodejs_heap_size_total_bytes / { heap = $2 }
  /^nodejs_external_memory_bytes / { ext = $2 }
  END { m = 1048576; printf "RSS %.1f MiB: V8 heap %.1f MiB (new space %.1f, old %.1f, code %.1f), external %.1f MiB, the rest (code of Node itself, stacks, malloc, kernel buffers) %.1f MiB", rss/m, heap/m, newspace/m, old/m, code/m, ext/m, (rss-heap-ext)/m }')
endpoint_requests >"$TMP/endpoints.loaded"

run_wrk direct-1 1 "$DIRECT_URL"
endpoint_requests >"$TMP/endpoints.before"
run_wrk spoke-1 1 "$SPOKE_URL"
endpoint_requests >"$TMP/endpoints.after"

kill -0 "$SPOKE_PID" 2>/dev/null || { cat "$TMP/spoke.log" >&2; die "spoke died during the benchmark"; }

# SIGTERM lets spoke drain and exit normally, which is when V8 writes the CPU profile.
kill -TERM "$SPOKE_PID"
for _ in $(seq 100); do kill -0 "$SPOKE_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SPOKE_PID" 2>/dev/null || true
forget "$SPOKE_PID"

# ---- report ---------------------------------------------------------------------------------
# Per-pod shares over the single-connection run: the delta of each endpoint's request counter.
SHARES=$(awk '
  NR == FNR { before[$1] = $2; next }
  { delta[$1] = $2 - before[$1]; total += delta[$1]; order[++n] = $1 }
  END {
    for (i = 1; i <= n; i++) {
      a = order[i]; split(a, hp, ":")
      printf "%s%s %.1f%%", (i > 1 ? ", " : ""), hp[1], total ? 100 * delta[a] / total : 0
    }
  }' "$TMP/endpoints.before" "$TMP/endpoints.after")
SHARE_SPREAD=$(awk '
  NR == FNR { before[$1] = $2; next }
  { d = $2 - before[$1]; total += d; if (n++ == 0 || d < lo) lo = d; if (d > hi) hi = d }
  END { printf "%.1f", total ? 100 * (hi - lo) / total : 100 }' "$TMP/endpoints.before" "$TMP/endpoints.after")
POD_COUNT=$(wc -l <"$TMP/endpoints.after")
POOLS=$(awk '{ split($1, hp, ":"); printf "%s%s %d", (NR > 1 ? ", " : ""), hp[1], $3 }' "$TMP/endpoints.loaded")

RATIO=$(calc "%.3f" "$(rps spoke-$CONNS) / $(rps direct-$CONNS)")
ADDED_P50=$(calc "%.3f" "$(pct spoke-1 50) - $(pct direct-1 50)")
ADDED_P99=$(calc "%.3f" "$(pct spoke-1 99) - $(pct direct-1 99)")
RSS_MAX_MB=$(calc "%.1f" "$RSS_MAX_KB / 1024")
RSS_IDLE_MB=$(calc "%.1f" "$RSS_IDLE_KB / 1024")

{
  echo "## spoke HTTP/1.1 benchmark"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- spoke: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src bin 2>/dev/null || echo ' + uncommitted changes')"
  echo "- machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), node $(node --version), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -1 | awk '{ print "wrk " $2 }')"
  echo "- pinning: ${PIN_SPOKE[*]:-none} for spoke, ${PIN_LOAD[*]:-none} for wrk and nginx"
  echo "- runs: wrk -t1, ${DURATION} measured after ${WARMUP} warm-up; pods: nginx, 1 worker, 3 addresses"
  echo "- load average at start (1, 5, 15 min): $LOAD_AT_START"
  echo "- CPU profiler: $([ "$PROFILE" = 1 ] && echo "ON (numbers include its overhead)" || echo off)"
  echo
  echo "| scenario | connections | req/s | p50 ms | p99 ms | errors | spoke CPU (% of a core) | core 0 / core 1 busy |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for row in "direct-$CONNS:direct to one pod" "spoke-$CONNS:through spoke" "direct-1:direct to one pod" "spoke-1:through spoke"; do
    name=${row%%:*}
    cpu=—
    [[ $name == spoke-* ]] && cpu=$(awk '{ printf "%s%% (kernel %s%%)", $1, $2 }' "$TMP/$name.cpu")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${row#*:}" "${name##*-}" "$(rps "$name")" \
      "$(pct "$name" 50)" "$(pct "$name" 99)" "$(errors "$name")" "$cpu" "$(awk '{ printf "%s%% / %s%%", $1, $2 }' "$TMP/$name.cores")"
  done
  suspect=()
  for name in direct-$CONNS spoke-$CONNS direct-1 spoke-1; do disturbed "$name" && suspect+=("$name"); done
  if [ ${#suspect[@]} -gt 0 ]; then
    echo
    echo "**Other processes used core 0 during: ${suspect[*]}. Rerun on a quiet machine before trusting those rows.**"
  fi
  echo
  echo "| measure | result | target | reached |"
  echo "| --- | ---: | ---: | --- |"
  echo "| spoke / direct req/s at $CONNS connections | $RATIO | ≥ 0.25 | $(yes_no "$RATIO >= 0.25") |"
  echo "| added p50 latency at 1 connection (spoke − direct) | $ADDED_P50 ms | ≤ 0.1 ms | $(yes_no "$ADDED_P50 <= 0.1") |"
  echo "| added p99 latency at 1 connection (spoke − direct) | $ADDED_P99 ms | — | — |"
  echo "| spoke max RSS during the $CONNS-connection run | $RSS_MAX_MB MiB (idle before: $RSS_IDLE_MB MiB) | ≤ 80 MB | $(yes_no "$RSS_MAX_MB <= 80") |"
  echo "| memory right after the $CONNS-connection run | ${MEMORY_BREAKDOWN:-not read} | — | — |"
  echo "| upstream connections per pod after the $CONNS-connection run | $POOLS | — | — |"
  echo "| per-pod shares, 1 connection through spoke | $SHARES | even over $POD_COUNT pods | max − min = $SHARE_SPREAD pts |"
} >"$TMP/results.md"

if [ "$PROFILE" = 1 ]; then
  [ -s "$OUT/spoke.cpuprofile" ] || die "spoke wrote no CPU profile to $OUT/spoke.cpuprofile"
  {
    echo
    echo "### CPU profile of spoke (whole run: warm-ups and measured runs)"
    echo
    node bench/top-profile.ts "$OUT/spoke.cpuprofile" 15
  } >>"$TMP/results.md"
  RESULTS=$OUT/results-profile.md
else
  RESULTS=$OUT/results.md
fi
cp "$TMP/results.md" "$RESULTS"
cat "$RESULTS"
echo >&2
echo "bench: written to $RESULTS" >&2
