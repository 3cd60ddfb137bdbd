#!/usr/bin/env bash
# HTTP/1.1 benchmark of spoke against three nginx "pods" on loopback (docs/benchmarks.md), with
# HAProxy in front of the same pods in the same run for scale (issue 13).
#
#   bash bench/run.sh                 # or: npm run bench
#   BENCH_PROFILE=1 bash bench/run.sh # also a V8 CPU profile of spoke, top functions printed
#
# Knobs: BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_CONNECTIONS (50), BENCH_NODE_FLAGS (none),
# BENCH_POLICY (round_robin: the upstream's balancing policy).
# Writes bench/out/results.md (bench/out/results-profile.md with BENCH_PROFILE=1).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNECTIONS:-50}
PROFILE=${BENCH_PROFILE:-0}
[[ $DURATION =~ ^[0-9]+s$ && $WARMUP =~ ^[0-9]+s$ ]] || { echo "bench: BENCH_DURATION and BENCH_WARMUP are whole seconds, like 10s" >&2; exit 1; }
# Pods, DNS, spoke start-up, cleanup and the wrk-independent helpers: shared with bench/h2.sh.
source bench/lib.sh

# HAProxy is required, not skipped: a report without it would lack the ratios it exists for.
check_tools "apt-get install wrk nginx-light haproxy curl util-linux coreutils (and Node >= 22.18)" wrk nginx haproxy node curl taskset timeout
check_node
check_dist
pin_cores
bench_start
pick_ports
start_pods "" ""
start_dns
start_spoke http1 spoke.cpuprofile

SPOKE_URL="http://127.0.0.1:$SPOKE_PORT/"
DIRECT_URL="http://${POD_IPS[0]}:$NGINX_PORT/"
HAPROXY_URL="http://127.0.0.1:$HAPROXY_PORT/"

# ---- helpers --------------------------------------------------------------------------------
# run_wrk NAME CONNECTIONS URL: warm-up, then the measured run into $TMP/NAME.wrk.
run_wrk() {
  local name=$1 conns=$2 url=$3 secs=${DURATION%s}
  echo "bench: $name ($conns connection(s), ${DURATION} after ${WARMUP} warm-up)" >&2
  timeout $((${WARMUP%s} + 30)) "${PIN_LOAD[@]}" wrk -t1 -c"$conns" -d"$WARMUP" "$url" >/dev/null
  measure_start
  timeout $((secs + 30)) "${PIN_LOAD[@]}" wrk -t1 -c"$conns" -d"$DURATION" --latency "$url" >"$TMP/$name.wrk"
  measure_stop "$name"
}

rps() { awk '/^Requests\/sec:/ { print $2 }' "$TMP/$1.wrk"; }
pct() { to_ms "$(awk -v p="$2%" '$1 == p { print $2 }' "$TMP/$1.wrk")"; }
# Socket errors plus non-2xx answers: anything but 0 means the numbers are not comparable.
errors() {
  awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
       /Non-2xx or 3xx responses:/ { n += $5 }
       END { print n + 0 }' "$TMP/$1.wrk"
}

# ---- measurements ---------------------------------------------------------------------------
run_wrk direct-$CONNS "$CONNS" "$DIRECT_URL"

RSS_IDLE_KB=$(rss_kb)
# VmRSS sampled every 100 ms during the measured run only; the max is what the target is about.
start_rss_sampler
run_wrk spoke-$CONNS "$CONNS" "$SPOKE_URL"
stop_rss_sampler
SPOKE_RSS_MAX_KB=$RSS_MAX_KB SPOKE_ANON_MAX_KB=$ANON_MAX_KB
# Where the memory sits right after the load: V8's heap spaces and memory outside the heap.
MEMORY_BREAKDOWN=$(memory_breakdown)
endpoint_requests >"$TMP/endpoints.loaded"

run_wrk direct-1 1 "$DIRECT_URL"
endpoint_requests >"$TMP/endpoints.before"
run_wrk spoke-1 1 "$SPOKE_URL"
endpoint_requests >"$TMP/endpoints.after"

stop_spoke

# HAProxy after spoke has stopped, so each proxy had core 0 to itself; same runs, same pods.
start_haproxy http1
HAPROXY_RSS_IDLE_KB=$(rss_kb)
start_rss_sampler
run_wrk haproxy-$CONNS "$CONNS" "$HAPROXY_URL"
stop_rss_sampler
haproxy_requests >"$TMP/haproxy.before"
run_wrk haproxy-1 1 "$HAPROXY_URL"
haproxy_requests >"$TMP/haproxy.after"
stop_haproxy

# ---- report ---------------------------------------------------------------------------------
# Per-pod shares over the single-connection run: the delta of each endpoint's request counter.
SHARES=$(pod_shares "$TMP/endpoints.before" "$TMP/endpoints.after")
SHARE_SPREAD=$(share_spread "$TMP/endpoints.before" "$TMP/endpoints.after")
POD_COUNT=$(wc -l <"$TMP/endpoints.after")
POOLS=$(pools "$TMP/endpoints.loaded")

RATIO=$(calc "%.3f" "$(rps spoke-$CONNS) / $(rps direct-$CONNS)")
ADDED_P50=$(calc "%.3f" "$(pct spoke-1 50) - $(pct direct-1 50)")
ADDED_P99=$(calc "%.3f" "$(pct spoke-1 99) - $(pct direct-1 99)")
RSS_MAX_MB=$(calc "%.1f" "$SPOKE_RSS_MAX_KB / 1024")
ANON_MAX_MB=$(calc "%.1f" "$SPOKE_ANON_MAX_KB / 1024")
RSS_IDLE_MB=$(calc "%.1f" "$RSS_IDLE_KB / 1024")
haproxy_figures "$CONNS"

{
  echo "## spoke HTTP/1.1 benchmark"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- spoke: $(spoke_revision)"
  echo "- machine: $(machine_summary), $(wrk -v 2>&1 | head -1 | awk '{ print "wrk " $2 }'), $(haproxy -v | head -1 | awk '{ print "HAProxy " $3 }')"
  echo "- pinning: ${PIN_SPOKE[*]:-none} for spoke, ${PIN_LOAD[*]:-none} for wrk and nginx"
  echo "- HAProxy: same pinning as spoke, run after spoke has stopped; nbthread 1, balance roundrobin, option http-keep-alive, http-reuse always"
  echo "- runs: wrk -t1, ${DURATION} measured after ${WARMUP} warm-up; pods: nginx, 1 worker, 3 addresses; policy: ${BENCH_POLICY:-round_robin}"
  echo "- load average at start (1, 5, 15 min): $LOAD_AT_START"
  echo "- CPU profiler: $([ "$PROFILE" = 1 ] && echo "ON (numbers include its overhead)" || echo off)"
  echo
  echo "| scenario | connections | req/s | p50 ms | p99 ms | errors | proxy CPU (% of a core) | core 0 / core 1 busy |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for row in "direct-$CONNS:direct to one pod" "spoke-$CONNS:through spoke" "haproxy-$CONNS:through HAProxy" \
    "direct-1:direct to one pod" "spoke-1:through spoke" "haproxy-1:through HAProxy"; do
    name=${row%%:*}
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${row#*:}" "${name##*-}" "$(rps "$name")" \
      "$(pct "$name" 50)" "$(pct "$name" 99)" "$(errors "$name")" "$(spoke_cpu_cell "$name")" "$(cores_cell "$name")"
  done
  suspect_note direct-$CONNS spoke-$CONNS haproxy-$CONNS direct-1 spoke-1 haproxy-1
  echo
  echo "| measure | result | target | reached |"
  echo "| --- | ---: | ---: | --- |"
  echo "| spoke / direct req/s at $CONNS connections | $RATIO | ≥ 0.25 | $(yes_no "$RATIO >= 0.25") |"
  echo "| HAProxy / direct req/s at $CONNS connections | $HAPROXY_RATIO | — | — |"
  echo "| spoke / HAProxy req/s at $CONNS connections | $VS_HAPROXY | ≥ 0.6 (issue 13) | $(yes_no "$VS_HAPROXY >= 0.6") |"
  echo "| CPU per request at $CONNS connections, spoke (HAProxy) | $SPOKE_CPU_US µs ($HAPROXY_CPU_US µs) | spoke ≤ 30 µs (issue 13) | $(yes_no "$SPOKE_CPU_US <= 30") |"
  echo "| spoke / HAProxy CPU per request at $CONNS connections | $CPU_VS_HAPROXY | — | — |"
  echo "| added p50 latency at 1 connection (spoke − direct) | $ADDED_P50 ms | ≤ 0.1 ms | $(yes_no "$ADDED_P50 <= 0.1") |"
  echo "| added p99 latency at 1 connection (spoke − direct) | $ADDED_P99 ms | — | — |"
  echo "| added p50 / p99 latency at 1 connection (HAProxy − direct) | $HAPROXY_P50 ms / $HAPROXY_P99 ms | — | — |"
  echo "| spoke max RSS during the $CONNS-connection run | $RSS_MAX_MB MiB (idle before: $RSS_IDLE_MB MiB; anonymous at most $ANON_MAX_MB MiB) | ≤ 80 MB | $(yes_no "$RSS_MAX_MB <= 80") |"
  echo "| HAProxy max RSS during the $CONNS-connection run | $HAPROXY_RSS_MAX_MB MiB (idle before: $HAPROXY_RSS_IDLE_MB MiB; anonymous at most $HAPROXY_ANON_MAX_MB MiB) | — | — |"
  echo "| memory right after the $CONNS-connection run | ${MEMORY_BREAKDOWN:-not read} | — | — |"
  echo "| upstream connections per pod after the $CONNS-connection run | $POOLS | — | — |"
  echo "| per-pod shares, 1 connection through spoke | $SHARES | even over $POD_COUNT pods | max − min = $SHARE_SPREAD pts |"
  echo "| per-pod shares, 1 connection through HAProxy (2xx per server) | $HAPROXY_SHARES | — | max − min = $HAPROXY_SPREAD pts |"
} >"$TMP/results.md"

if [ "$PROFILE" = 1 ]; then
  profile_section "$OUT/spoke.cpuprofile" >>"$TMP/results.md"
  RESULTS=$OUT/results-profile.md
else
  RESULTS=$OUT/results.md
fi
cp "$TMP/results.md" "$RESULTS"
cat "$RESULTS"
echo >&2
echo "bench: written to $RESULTS" >&2
