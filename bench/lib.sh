# Shared by the benchmarks (docs/benchmarks.md): bench/run.sh (HTTP/1.1, wrk) and bench/h2.sh
# (h2c, h2load). Sourced from the repository root after `set -euo pipefail`; it sets up nothing
# by itself. The callers set PROFILE (0 or 1) before start_spoke.
#
# Order of use: check_tools, check_node, check_dist, pin_cores, bench_start (temporary directory,
# cleanup trap), pick_ports, start_pods, start_dns, start_spoke; then measure_start/measure_stop
# around each run, the RSS sampler, endpoint_requests; stop_spoke; then start_haproxy, the same
# measuring for HAProxy's runs, stop_haproxy; then the report.

SERVICE=pods.bench.svc.cluster.local
POD_IPS=(127.0.0.2 127.0.0.3 127.0.0.4)
OUT=bench/out

die() { echo "bench: $*" >&2; exit 1; }

# check_tools HINT TOOL...: exits naming the first missing tool, with HINT (how to install).
check_tools() {
  local hint=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found. On Debian/Ubuntu: $hint"
  done
}

check_node() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' ||
    die "Node >= 22.18 is needed to run the TypeScript sources (found $(node --version))"
}

# bin/spoke.js runs the compiled dist/, which `npm run bench` builds first.
check_dist() {
  if grep -q 'dist/' bin/spoke.js; then
    [ -f dist/cli.js ] || die "dist/ is missing: run 'npm run build' first (or 'npm run bench', which builds)"
    [ -z "$(find src -name '*.ts' -newer dist/cli.js -print -quit)" ] ||
      echo "bench: warning: src/ is newer than dist/; 'npm run build' to measure the current code" >&2
  fi
}

# Spoke gets core 0 to itself; load generator and pods share core 1, so the client and the pods
# never steal the proxy's CPU. HAProxy gets the same core 0 (PIN_SPOKE) after spoke has stopped.
pin_cores() {
  if [ "$(nproc)" -ge 2 ]; then
    PIN_SPOKE=(taskset -c 0)
    PIN_LOAD=(taskset -c 1)
  else
    echo "bench: only $(nproc) core; running unpinned, results will understate spoke" >&2
    PIN_SPOKE=()
    PIN_LOAD=()
  fi
}

# Everything started goes into PIDS and is stopped by PID on exit (also on Ctrl-C); the
# temporary directory TMP is removed.
bench_start() {
  # Taken before anything starts: the benchmark itself keeps about two cores busy.
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/spoke-bench.XXXXXX")
  PIDS=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$OUT"
}

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

# NGINX_PORT (on every pod address), SPOKE_PORT, ADMIN_PORT, HAPROXY_PORT and HAPROXY_STATS_PORT
# (on 127.0.0.1).
pick_ports() {
  read -r NGINX_PORT SPOKE_PORT ADMIN_PORT HAPROXY_PORT HAPROXY_STATS_PORT < <(node bench/ports.ts 5 "${POD_IPS[@]}" 127.0.0.1 | paste -sd' ') || true
  [ -n "${HAPROXY_STATS_PORT:-}" ] || die "could not find free ports on ${POD_IPS[*]} and 127.0.0.1"
}

# ---- pods: one nginx master, one worker, a server block per pod address --------------------
# start_pods LISTEN_PARAMS HTTP_DIRECTIVES [CURL_OPTION...]: LISTEN_PARAMS follow the address
# on each `listen` line (" http2" for h2c), HTTP_DIRECTIVES go into the http block; the curl
# options make the readiness probe speak the pods' protocol.
start_pods() {
  local listen_params=$1 directives=$2 i d ip
  shift 2
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
    # requests would measure reconnects instead. (Since nginx 1.19.7 this covers HTTP/2 too.)
    echo "  keepalive_requests 10000000;"
    echo "  keepalive_timeout 300s;"
    [ -z "$directives" ] || echo "  $directives"
    for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $TMP/nginx/$d;"; done
    for i in "${!POD_IPS[@]}"; do
      echo "  server {"
      echo "    listen ${POD_IPS[$i]}:$NGINX_PORT$listen_params;"
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
    wait_until 10 "nginx on $ip:$NGINX_PORT" curl -sf "$@" "http://$ip:$NGINX_PORT/"
  done
}

# ---- DNS: the headless Service's A records --------------------------------------------------
start_dns() {
  node bench/dns.ts "$SERVICE" "${POD_IPS[@]}" >"$TMP/dns.out" 2>&1 &
  PIDS+=($!)
  wait_until 10 "the DNS server" grep -q '^[0-9]' "$TMP/dns.out"
  DNS_PORT=$(head -1 "$TMP/dns.out")
}

# ---- spoke ----------------------------------------------------------------------------------
# start_spoke PROTOCOL PROFILE_NAME [CURL_OPTION...]: the upstream's protocol (http1, h2c), the
# file name of the CPU profile in $OUT when PROFILE=1, and curl options for the first request
# through spoke. Sets SPOKE_PID.
start_spoke() {
  local protocol=$1 profile_name=$2
  shift 2
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
    protocol: $protocol
    policy: ${BENCH_POLICY:-round_robin}
EOF
  # Extra Node/V8 flags for spoke, e.g. BENCH_NODE_FLAGS="--max-semi-space-size=2".
  local -a node_flags
  read -r -a node_flags <<<"${BENCH_NODE_FLAGS:-}"
  if [ "$PROFILE" = 1 ]; then
    rm -f "$OUT/$profile_name"
    node_flags+=(--cpu-prof "--cpu-prof-dir=$OUT" "--cpu-prof-name=$profile_name")
  fi
  # Started as the `spoke` executable, as users run it, so its shebang's V8 flags apply; extra
  # flags travel in NODE_OPTIONS.
  NODE_OPTIONS="${node_flags[*]}" "${PIN_SPOKE[@]}" ./bin/spoke.js run -c "$TMP/spoke.yaml" --log-level warn >"$TMP/spoke.log" 2>&1 &
  SPOKE_PID=$!
  PROXY_PID=$SPOKE_PID
  PIDS+=("$SPOKE_PID")
  for _ in $(seq 150); do
    kill -0 "$SPOKE_PID" 2>/dev/null || { cat "$TMP/spoke.log" >&2; die "spoke exited during start-up"; }
    curl -sf "http://127.0.0.1:$ADMIN_PORT/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$ADMIN_PORT/ready" >/dev/null || die "spoke not ready after 15s"
  curl -sf "$@" "http://127.0.0.1:$SPOKE_PORT/" >/dev/null || die "a request through spoke failed"
}

# SIGTERM lets spoke drain and exit normally, which is when V8 writes the CPU profile.
stop_spoke() {
  kill -0 "$SPOKE_PID" 2>/dev/null || { cat "$TMP/spoke.log" >&2; die "spoke died during the benchmark"; }
  kill -TERM "$SPOKE_PID"
  for _ in $(seq 100); do kill -0 "$SPOKE_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$SPOKE_PID" 2>/dev/null || true
  forget "$SPOKE_PID"
}

# ---- HAProxy --------------------------------------------------------------------------------
# start_haproxy PROTOCOL [CURL_OPTION...]: HAProxy (Debian's haproxy binary, run directly, never
# the system service) on HAPROXY_PORT in front of the same three pods, on spoke's core, for the
# comparison of issue 13. PROTOCOL is the pods' (http1, h2c); with h2c HAProxy also speaks h2c to
# the client, as spoke's listener does. Sets HAPROXY_PID and makes it the measured PROXY_PID.
start_haproxy() {
  local protocol=$1 proto="" i
  shift
  [ "$protocol" = h2c ] && proto=" proto h2"
  mkdir -p "$TMP/haproxy"
  {
    echo "global"
    # One thread on one core, as spoke's one event loop; no log, stats socket, chroot or user
    # switch: a throwaway process owned by this script. maxconn as nginx's worker_connections,
    # and low enough for the file descriptor limit (HAProxy wants about two per connection).
    echo "  nbthread 1"
    echo "  maxconn 4096"
    echo "defaults"
    echo "  mode http"
    echo "  timeout connect 5s"
    echo "  timeout client 300s"
    echo "  timeout server 300s"
    echo "  timeout http-keep-alive 300s"
    # Keep-alive on both sides and idle pod connections shared between client connections: the
    # pooling spoke does, so both proxies pay for requests, not for TCP handshakes.
    echo "  option http-keep-alive"
    echo "  http-reuse always"
    echo "frontend bench"
    echo "  bind 127.0.0.1:$HAPROXY_PORT$proto"
    echo "  default_backend pods"
    echo "backend pods"
    echo "  balance roundrobin"
    for i in "${!POD_IPS[@]}"; do echo "  server pod-$i ${POD_IPS[$i]}:$NGINX_PORT$proto"; done
    # Per-server counters (CSV) on a port of their own, so the measured frontend has no stats
    # rule to check; read by haproxy_requests.
    echo "frontend stats"
    echo "  bind 127.0.0.1:$HAPROXY_STATS_PORT"
    echo "  stats enable"
    echo "  stats uri /stats"
  } >"$TMP/haproxy/haproxy.cfg"
  haproxy -c -q -f "$TMP/haproxy/haproxy.cfg" >"$TMP/haproxy/check.log" 2>&1 ||
    { cat "$TMP/haproxy/check.log" >&2; die "HAProxy rejected its configuration"; }
  # -db: in the foreground, so $! is HAProxy itself (one process, no master) and is stopped by
  # PID like everything else.
  "${PIN_SPOKE[@]}" haproxy -db -f "$TMP/haproxy/haproxy.cfg" >"$TMP/haproxy/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  PROXY_PID=$HAPROXY_PID
  PIDS+=("$HAPROXY_PID")
  for _ in $(seq 100); do
    kill -0 "$HAPROXY_PID" 2>/dev/null || { cat "$TMP/haproxy/haproxy.log" >&2; die "HAProxy exited during start-up"; }
    curl -sf "$@" "http://127.0.0.1:$HAPROXY_PORT/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "a request through HAProxy still failed after 10s"
}

# "address requests" per pod, as endpoint_requests gives them (for pod_shares), from HAProxy's
# stats: 2xx answers per server. The CSV's addr column is empty here, so the address comes from
# the server's name (pod-N is POD_IPS[N]).
haproxy_requests() {
  curl -sf "http://127.0.0.1:$HAPROXY_STATS_PORT/stats;csv" | awk -F, -v ips="${POD_IPS[*]}" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; split(ips, ip, " "); next }
    $1 == "pods" && $2 ~ /^pod-/ { n = substr($2, 5) + 1; print ip[n], $(col["hrsp_2xx"]) }'
}

stop_haproxy() {
  kill -0 "$HAPROXY_PID" 2>/dev/null || { cat "$TMP/haproxy/haproxy.log" >&2; die "HAProxy died during the benchmark"; }
  kill -TERM "$HAPROXY_PID"
  for _ in $(seq 50); do kill -0 "$HAPROXY_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$HAPROXY_PID" 2>/dev/null || true
  forget "$HAPROXY_PID"
}

# ---- measuring ------------------------------------------------------------------------------
# "utime stime" of the proxy being measured (PROXY_PID: spoke, then HAProxy), in clock ticks:
# how busy the proxy really was, and how much of it the kernel (loopback TCP) took.
CLK_TCK=$(getconf CLK_TCK)
proxy_ticks() { awk '{ print $14, $15 }' "/proc/$PROXY_PID/stat"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# "busy total" jiffies of cores 0 and 1 on one line. Core 0 far busier than spoke alone means
# another process (this machine is shared) ran on spoke's core during the run.
cores_jiffies() {
  awk '$1 == "cpu0" || $1 == "cpu1" { t = 0; for (i = 2; i <= 9; i++) t += $i; printf "%d %d ", t - $5 - $6, t }' /proc/stat
}

# measure_start / measure_stop NAME around a measured run: the proxy's CPU use ("total kernel", %
# of a core, then unrounded in core-seconds per second for CPU per request) into $TMP/NAME.cpu,
# how busy cores 0 and 1 were into $TMP/NAME.cores.
measure_start() { MEASURE_TICKS=$(proxy_ticks) MEASURE_T=$(date +%s.%N) MEASURE_CORES=$(cores_jiffies); }
measure_stop() {
  local name=$1 ticks1 t1 cores1
  ticks1=$(proxy_ticks) t1=$(date +%s.%N) cores1=$(cores_jiffies)
  echo "$MEASURE_TICKS $ticks1" | awk -v hz="$CLK_TCK" -v secs="$(calc "%f" "$t1 - $MEASURE_T")" \
    '{ printf "%.0f %.0f %.6f", 100 * ($3 + $4 - $1 - $2) / hz / secs, 100 * ($4 - $2) / hz / secs, ($3 + $4 - $1 - $2) / hz / secs }' >"$TMP/$name.cpu"
  echo "$MEASURE_CORES $cores1" | awk '{ printf "%.0f %.0f", 100 * ($5 - $1) / ($6 - $2), 100 * ($7 - $3) / ($8 - $4) }' >"$TMP/$name.cores"
}

# Core 0 is meant for the proxy alone: busier than the proxy itself (kernel networking on its
# behalf included) by more than 15 points means a stranger shared it and the run is suspect.
disturbed() {
  local spoke=0 core0
  [[ $1 == spoke-* || $1 == haproxy-* ]] && read -r spoke _ <"$TMP/$1.cpu"
  read -r core0 _ <"$TMP/$1.cores"
  [ $((core0 - spoke)) -gt 15 ]
}

# suspect_note NAME...: the warning under the results table, if any run was disturbed.
suspect_note() {
  local suspect=() name
  for name in "$@"; do disturbed "$name" && suspect+=("$name"); done
  if [ ${#suspect[@]} -gt 0 ]; then
    echo
    echo "**Other processes used core 0 during: ${suspect[*]}. Rerun on a quiet machine before trusting those rows.**"
  fi
}

# The CPU cells of a results row: the proxy's use (— for direct runs) and both cores' business.
spoke_cpu_cell() {
  if [[ $1 == spoke-* || $1 == haproxy-* ]]; then awk '{ printf "%s%% (kernel %s%%)", $1, $2 }' "$TMP/$1.cpu"; else echo —; fi
}
cores_cell() { awk '{ printf "%s%% / %s%%", $1, $2 }' "$TMP/$1.cores"; }
# cpu_us NAME RPS: the proxy's CPU (utime + stime) per request of run NAME, in µs: core-seconds
# per second over requests per second.
cpu_us() { awk -v rps="$2" '{ printf "%.1f", (rps > 0 ? 1e6 * $3 / rps : 0) }' "$TMP/$1.cpu"; }

# wrk and h2load print times as 812.00us, 1.23ms, 2.00s or 1.50m; everything becomes ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) { print "NaN"; exit 1 }
    printf "%.3f", n * f
  }'
}
yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"no\" }"; }

# ---- memory ---------------------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PROXY_PID/status"; }

# VmRSS and RssAnon of the proxy (PROXY_PID) sampled every 100 ms between start_rss_sampler and stop_rss_sampler, which
# sets RSS_MAX_KB and ANON_MAX_KB to the largest samples.
start_rss_sampler() {
  rm -f "$TMP/rss.stop"
  : >"$TMP/rss.samples"
  (
    while [ ! -e "$TMP/rss.stop" ]; do
      awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { print r, a }' "/proc/$PROXY_PID/status" >>"$TMP/rss.samples" 2>/dev/null || break
      sleep 0.1
    done
  ) &
  RSS_SAMPLER=$!
  PIDS+=("$RSS_SAMPLER")
}
stop_rss_sampler() {
  touch "$TMP/rss.stop"
  wait "$RSS_SAMPLER" || true
  forget "$RSS_SAMPLER"
  RSS_MAX_KB=$(awk '$1 > m { m = $1 } END { print m }' "$TMP/rss.samples")
  ANON_MAX_KB=$(awk '$2 > m { m = $2 } END { print m }' "$TMP/rss.samples")
}

# Where the memory sits right now: V8's heap spaces and memory outside the heap, then the
# kernel's split of the RSS into anonymous memory (spoke's own: heap, malloc, stacks) and
# file-backed pages (mostly the node executable's code, shared and reclaimable).
memory_breakdown() {
  local split
  split=$(awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { printf "; anonymous %.1f MiB, file-backed %.1f MiB", a/1024, f/1024 }' "/proc/$SPOKE_PID/status")
  curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v rss_split="$split" '
  /^process_resident_memory_bytes / { rss = $2 }
  /^nodejs_heap_space_size_total_bytes\{space="new"\}/ { newspace = $2 }
  /^nodejs_heap_space_size_total_bytes\{space="old"\}/ { old = $2 }
  /^nodejs_heap_space_size_total_bytes\{space="code"\}/ { code = $2 }
  /^nodejs_heap_size_total_bytes / { heap = $2 }
  /^nodejs_external_memory_bytes / { ext = $2 }
  END { m = 1048576; printf "RSS %.1f MiB: V8 heap %.1f MiB (new space %.1f, old %.1f, code %.1f), external %.1f MiB, the rest (code of Node itself, stacks, malloc) %.1f MiB%s", rss/m, heap/m, newspace/m, old/m, code/m, ext/m, (rss-heap-ext)/m, rss_split }'
}

# ---- per-pod counters -----------------------------------------------------------------------
# "address requests connections" per endpoint, from spoke's /endpoints.
endpoint_requests() {
  curl -sf "http://127.0.0.1:$ADMIN_PORT/endpoints" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const e of JSON.parse(s).upstreams[0].endpoints) console.log(e.endpoint, e.requests, e.connections)
    })'
}

# pod_shares BEFORE AFTER (files of endpoint_requests): "127.0.0.2 33.3%, ..." over the delta of
# each endpoint's request counter.
pod_shares() {
  awk '
  NR == FNR { before[$1] = $2; next }
  { delta[$1] = $2 - before[$1]; total += delta[$1]; order[++n] = $1 }
  END {
    for (i = 1; i <= n; i++) {
      a = order[i]; split(a, hp, ":")
      printf "%s%s %.1f%%", (i > 1 ? ", " : ""), hp[1], total ? 100 * delta[a] / total : 0
    }
  }' "$1" "$2"
}
# share_spread BEFORE AFTER: max − min of the shares, in percentage points.
share_spread() {
  awk '
  NR == FNR { before[$1] = $2; next }
  { d = $2 - before[$1]; total += d; if (n++ == 0 || d < lo) lo = d; if (d > hi) hi = d }
  END { printf "%.1f", total ? 100 * (hi - lo) / total : 100 }' "$1" "$2"
}
# pools FILE: "127.0.0.2 14, ..." upstream connections per pod.
pools() { awk '{ split($1, hp, ":"); printf "%s%s %d", (NR > 1 ? ", " : ""), hp[1], $3 }' "$1"; }

# ---- report ---------------------------------------------------------------------------------
spoke_revision() {
  echo "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src bin 2>/dev/null || echo ' + uncommitted changes')"
}
# "2 cores (AMD EPYC), node v24.x, nginx/1.22.1"; the caller adds its load generator.
machine_summary() {
  echo "$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), node $(node --version), $(nginx -v 2>&1 | sed 's/^nginx version: //')"
}

# profile_section FILE: the top functions of spoke's CPU profile, for the end of the report.
profile_section() {
  [ -s "$1" ] || die "spoke wrote no CPU profile to $1"
  echo
  echo "### CPU profile of spoke (whole run: warm-ups and measured runs)"
  echo
  node bench/top-profile.ts "$1" 15
}

# haproxy_figures MANY: spoke against HAProxy (issue 13) at MANY connections (throughput, CPU
# per request from utime + stime) and at one (added latency); HAProxy's memory and pod shares.
# Both benchmarks name their runs spoke-N, haproxy-N and direct-N; sets the HAPROXY_* variables,
# VS_HAPROXY, SPOKE_CPU_US and CPU_VS_HAPROXY.
haproxy_figures() {
  local many=$1
  HAPROXY_RATIO=$(calc "%.3f" "$(rps haproxy-$many) / $(rps direct-$many)")
  VS_HAPROXY=$(calc "%.3f" "$(rps spoke-$many) / $(rps haproxy-$many)")
  SPOKE_CPU_US=$(cpu_us spoke-$many "$(rps spoke-$many)")
  HAPROXY_CPU_US=$(cpu_us haproxy-$many "$(rps haproxy-$many)")
  CPU_VS_HAPROXY=$(calc "%.2f" "$SPOKE_CPU_US / $HAPROXY_CPU_US")
  HAPROXY_P50=$(calc "%.3f" "$(pct haproxy-1 50) - $(pct direct-1 50)")
  HAPROXY_P99=$(calc "%.3f" "$(pct haproxy-1 99) - $(pct direct-1 99)")
  HAPROXY_RSS_MAX_MB=$(calc "%.1f" "$RSS_MAX_KB / 1024")
  HAPROXY_ANON_MAX_MB=$(calc "%.1f" "$ANON_MAX_KB / 1024")
  HAPROXY_RSS_IDLE_MB=$(calc "%.1f" "$HAPROXY_RSS_IDLE_KB / 1024")
  HAPROXY_SHARES=$(pod_shares "$TMP/haproxy.before" "$TMP/haproxy.after")
  HAPROXY_SPREAD=$(share_spread "$TMP/haproxy.before" "$TMP/haproxy.after")
}
