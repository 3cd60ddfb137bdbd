#!/usr/bin/env bash
# HTTP/2 (h2c) benchmark of spoke against three nginx h2c "pods" on loopback, with h2load
# (docs/benchmarks.md, section HTTP/2), with HAProxy (h2c on both sides) in front of the same
# pods in the same run for scale (issue 13).
#
#   bash bench/h2.sh                  # or: npm run bench:h2
#   BENCH_PROFILE=1 bash bench/h2.sh  # also a V8 CPU profile of spoke, top functions printed
#
# Knobs: BENCH_DURATION (10s), BENCH_WARMUP (1s), BENCH_NODE_FLAGS (none),
# BENCH_POLICY (round_robin: the upstream's balancing policy).
# Writes bench/out/results-h2.md (bench/out/results-h2-profile.md with BENCH_PROFILE=1).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-1s}
PROFILE=${BENCH_PROFILE:-0}
[[ $DURATION =~ ^[0-9]+s$ && $WARMUP =~ ^[0-9]+s$ ]] || { echo "bench: BENCH_DURATION and BENCH_WARMUP are whole seconds, like 10s" >&2; exit 1; }
# Streams in flight per h2load client, and the two client counts measured.
STREAMS=10
MANY=10
# Pods, DNS, spoke start-up, cleanup and the load-generator-independent helpers: shared with
# bench/run.sh.
source bench/lib.sh

# HAProxy is required, not skipped: a report without it would lack the ratios it exists for.
check_tools "apt-get install nghttp2-client nginx-light haproxy curl util-linux coreutils (and Node >= 22.18)" h2load nginx haproxy node curl taskset timeout
check_node
check_dist
pin_cores
bench_start
pick_ports
# `listen ... http2` without ssl is cleartext HTTP/2 with prior knowledge (nginx 1.22 has no
# `http2 on;`). 128 streams per session is nginx's default, written out because spoke's session
# capacity follows it.
start_pods " http2" "http2_max_concurrent_streams 128;" --http2-prior-knowledge
start_dns
# The listener is the same as for HTTP/1.1: it recognises the HTTP/2 preface on the same port.
start_spoke h2c spoke-h2.cpuprofile --http2-prior-knowledge

SPOKE_URL="http://127.0.0.1:$SPOKE_PORT/"
DIRECT_URL="http://${POD_IPS[0]}:$NGINX_PORT/"
HAPROXY_URL="http://127.0.0.1:$HAPROXY_PORT/"

# ---- helpers --------------------------------------------------------------------------------
# run_h2load NAME CLIENTS URL: one h2load run (h2c with prior knowledge, one thread, STREAMS
# streams per client), its own warm-up first; the output into $TMP/NAME.h2load and one line per
# measured request (start µs, status, µs until the end of the response) into $TMP/NAME.log.
# Spoke's CPU and the cores are measured from the end of the warm-up.
run_h2load() {
  local name=$1 clients=$2 url=$3 pid status=0
  echo "bench: $name (h2load -c$clients -m$STREAMS, ${DURATION} after ${WARMUP} warm-up)" >&2
  timeout $((${WARMUP%s} + ${DURATION%s} + 30)) "${PIN_LOAD[@]}" h2load -t1 -c"$clients" -m"$STREAMS" \
    -D "$DURATION" --warm-up-time="$WARMUP" --log-file="$TMP/$name.log" "$url" >"$TMP/$name.h2load" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  sleep "${WARMUP%s}"
  measure_start
  wait "$pid" || status=$?
  measure_stop "$name"
  forget "$pid"
  [ "$status" = 0 ] || { tail -5 "$TMP/$name.h2load" >&2; die "h2load exited with status $status during $name"; }
  grep -q '^finished in' "$TMP/$name.h2load" || { cat "$TMP/$name.h2load" >&2; die "no result from h2load in $name"; }
}

# "finished in 11.00s, 37612.50 req/s, 2.87MB/s": requests per second of the measured part.
rps() { awk '/^finished in/ { print $4 }' "$TMP/$1.h2load"; }
# h2load's own latency summary, "time for request: min max mean sd +/- sd" (no percentiles).
request_time() {
  local col
  case $2 in min) col=4 ;; max) col=5 ;; mean) col=6 ;; sd) col=7 ;; esac
  to_ms "$(awk -v c="$col" '/^time for request:/ { print $c }' "$TMP/$1.h2load")"
}
# pct NAME P: the P-th percentile (nearest rank) of the measured requests' times from the log.
pct() {
  cut -f3 "$TMP/$1.log" | sort -n | awk -v p="$2" '
    { v[NR] = $1 }
    END { if (NR == 0) { print "NaN"; exit } i = int(p / 100 * NR); if (i < p / 100 * NR) i++; if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }'
}
# "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout" and
# "status codes: N 2xx, N 3xx, N 4xx, N 5xx": failed streams (4xx/5xx included) plus 3xx; or, if
# more, the logged requests with status -1 (failed stream) or 300 and up. Anything but 0 means the
# numbers are not comparable. A logged status 0 is no error: h2load records a status only in the
# measured phase, so a request whose response headers came in the warm-up's last milliseconds
# and its end after shows 0.
errors() {
  local summary logged
  summary=$(awk '/^requests:/ { n += $10 } /^status codes:/ { n += $5 } END { print n + 0 }' "$TMP/$1.h2load")
  logged=$(awk -F'\t' '$2 == -1 || $2 >= 300 { n++ } END { print n + 0 }' "$TMP/$1.log")
  echo $((summary > logged ? summary : logged))
}
# max_share_deviation BEFORE AFTER: the largest distance of a pod's share from an even split,
# in percentage points.
max_share_deviation() {
  awk '
  NR == FNR { before[$1] = $2; next }
  { d[++n] = $2 - before[$1]; total += d[n] }
  END { for (i = 1; i <= n; i++) { x = 100 * d[i] / total - 100 / n; if (x < 0) x = -x; if (x > m) m = x } printf "%.2f", total ? m : 100 }' "$1" "$2"
}

# ---- measurements ---------------------------------------------------------------------------
run_h2load direct-$MANY "$MANY" "$DIRECT_URL"

RSS_IDLE_KB=$(rss_kb)
# VmRSS sampled every 100 ms during the whole run through spoke (warm-up included).
start_rss_sampler
run_h2load spoke-$MANY "$MANY" "$SPOKE_URL"
stop_rss_sampler
SPOKE_RSS_MAX_KB=$RSS_MAX_KB SPOKE_ANON_MAX_KB=$ANON_MAX_KB
MEMORY_BREAKDOWN=$(memory_breakdown)
endpoint_requests >"$TMP/endpoints.loaded"

run_h2load direct-1 1 "$DIRECT_URL"
endpoint_requests >"$TMP/endpoints.before"
run_h2load spoke-1 1 "$SPOKE_URL"
endpoint_requests >"$TMP/endpoints.after"

stop_spoke

# HAProxy after spoke has stopped, so each proxy had core 0 to itself; same runs, same pods.
start_haproxy h2c --http2-prior-knowledge
HAPROXY_RSS_IDLE_KB=$(rss_kb)
start_rss_sampler
run_h2load haproxy-$MANY "$MANY" "$HAPROXY_URL"
stop_rss_sampler
haproxy_requests >"$TMP/haproxy.before"
run_h2load haproxy-1 1 "$HAPROXY_URL"
haproxy_requests >"$TMP/haproxy.after"
stop_haproxy

# ---- report ---------------------------------------------------------------------------------
# Per-pod shares over the one-client run through spoke: the delta of each endpoint's counter.
SHARES=$(pod_shares "$TMP/endpoints.before" "$TMP/endpoints.after")
SHARE_SPREAD=$(share_spread "$TMP/endpoints.before" "$TMP/endpoints.after")
SHARE_DEVIATION=$(max_share_deviation "$TMP/endpoints.before" "$TMP/endpoints.after")
POD_COUNT=$(wc -l <"$TMP/endpoints.after")
POOLS=$(pools "$TMP/endpoints.loaded")

RATIO_MANY=$(calc "%.3f" "$(rps spoke-$MANY) / $(rps direct-$MANY)")
RATIO_ONE=$(calc "%.3f" "$(rps spoke-1) / $(rps direct-1)")
ADDED_P50=$(calc "%.3f" "$(pct spoke-1 50) - $(pct direct-1 50)")
ADDED_P99=$(calc "%.3f" "$(pct spoke-1 99) - $(pct direct-1 99)")
RSS_MAX_MB=$(calc "%.1f" "$SPOKE_RSS_MAX_KB / 1024")
ANON_MAX_MB=$(calc "%.1f" "$SPOKE_ANON_MAX_KB / 1024")
RSS_IDLE_MB=$(calc "%.1f" "$RSS_IDLE_KB / 1024")
haproxy_figures "$MANY"
VS_HAPROXY_ONE=$(calc "%.3f" "$(rps spoke-1) / $(rps haproxy-1)")

{
  echo "## spoke HTTP/2 (h2c) benchmark"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- spoke: $(spoke_revision)"
  echo "- machine: $(machine_summary), $(h2load --version 2>&1 | head -1 | sed 's|^h2load nghttp2/|h2load |'), $(haproxy -v | head -1 | awk '{ print "HAProxy " $3 }')"
  echo "- pinning: ${PIN_SPOKE[*]:-none} for spoke, ${PIN_LOAD[*]:-none} for h2load and nginx"
  echo "- HAProxy: same pinning as spoke, run after spoke has stopped; nbthread 1, mode http, proto h2 on the bind and to each h2c pod, balance roundrobin, http-reuse always"
  echo "- runs: h2load -t1 -m$STREAMS (h2c, prior knowledge), -D ${DURATION} --warm-up-time=${WARMUP}; pods: nginx, 1 worker, 3 addresses, http2_max_concurrent_streams 128; policy: ${BENCH_POLICY:-round_robin}"
  echo "- latency: p50/p99 from h2load's per-request log (--log-file); mean/max from h2load's own summary"
  echo "- load average at start (1, 5, 15 min): $LOAD_AT_START"
  echo "- CPU profiler: $([ "$PROFILE" = 1 ] && echo "ON (numbers include its overhead)" || echo off)"
  echo
  echo "| scenario | clients × streams | req/s | p50 ms | p99 ms | mean ms | max ms | errors | proxy CPU (% of a core) | core 0 / core 1 busy |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for row in "direct-$MANY:direct to one pod" "spoke-$MANY:through spoke" "haproxy-$MANY:through HAProxy" \
    "direct-1:direct to one pod" "spoke-1:through spoke" "haproxy-1:through HAProxy"; do
    name=${row%%:*}
    printf '| %s | %s × %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${row#*:}" "${name##*-}" "$STREAMS" "$(rps "$name")" \
      "$(pct "$name" 50)" "$(pct "$name" 99)" "$(request_time "$name" mean)" "$(request_time "$name" max)" \
      "$(errors "$name")" "$(spoke_cpu_cell "$name")" "$(cores_cell "$name")"
  done
  suspect_note direct-$MANY spoke-$MANY haproxy-$MANY direct-1 spoke-1 haproxy-1
  echo
  echo "| measure | result | target | reached |"
  echo "| --- | ---: | ---: | --- |"
  echo "| spoke / direct req/s at -c$MANY -m$STREAMS | $RATIO_MANY | ≥ 0.2 | $(yes_no "$RATIO_MANY >= 0.2") |"
  echo "| spoke / direct req/s at -c1 -m$STREAMS | $RATIO_ONE | — | — |"
  echo "| HAProxy / direct req/s at -c$MANY -m$STREAMS | $HAPROXY_RATIO | — | — |"
  echo "| spoke / HAProxy req/s at -c$MANY -m$STREAMS | $VS_HAPROXY | ≥ 0.3 (issue 13) | $(yes_no "$VS_HAPROXY >= 0.3") |"
  echo "| spoke / HAProxy req/s at -c1 -m$STREAMS | $VS_HAPROXY_ONE | — | — |"
  echo "| CPU per request at -c$MANY -m$STREAMS, spoke (HAProxy) | $SPOKE_CPU_US µs ($HAPROXY_CPU_US µs) | — | — |"
  echo "| spoke / HAProxy CPU per request at -c$MANY -m$STREAMS | $CPU_VS_HAPROXY | — | — |"
  echo "| added p50 latency at -c1 -m$STREAMS (spoke − direct) | $ADDED_P50 ms | — | — |"
  echo "| added p99 latency at -c1 -m$STREAMS (spoke − direct) | $ADDED_P99 ms | — | — |"
  echo "| added p50 / p99 latency at -c1 -m$STREAMS (HAProxy − direct) | $HAPROXY_P50 ms / $HAPROXY_P99 ms | — | — |"
  echo "| spoke max RSS during the -c$MANY -m$STREAMS run | $RSS_MAX_MB MiB (idle before: $RSS_IDLE_MB MiB; anonymous at most $ANON_MAX_MB MiB) | — | — |"
  echo "| HAProxy max RSS during the -c$MANY -m$STREAMS run | $HAPROXY_RSS_MAX_MB MiB (idle before: $HAPROXY_RSS_IDLE_MB MiB; anonymous at most $HAPROXY_ANON_MAX_MB MiB) | — | — |"
  echo "| memory right after the -c$MANY -m$STREAMS run | ${MEMORY_BREAKDOWN:-not read} | — | — |"
  echo "| h2c sessions per pod after the -c$MANY -m$STREAMS run | $POOLS | — | — |"
  echo "| per-pod shares, -c1 -m$STREAMS through spoke | $SHARES (max − min = $SHARE_SPREAD pts) | each within 1 pt of even over $POD_COUNT pods | $(yes_no "$SHARE_DEVIATION <= 1") (largest distance $SHARE_DEVIATION pts) |"
  echo "| per-pod shares, -c1 -m$STREAMS through HAProxy (2xx per server) | $HAPROXY_SHARES | — | max − min = $HAPROXY_SPREAD pts |"
  echo
  echo "For scale (issue figures, same shape of run): @fastify/http-proxy 0.07 ×, a bare 40-line node:http2 proxy 0.19 ×, HAProxy 1.2 × direct."
} >"$TMP/results.md"

if [ "$PROFILE" = 1 ]; then
  profile_section "$OUT/spoke-h2.cpuprofile" >>"$TMP/results.md"
  RESULTS=$OUT/results-h2-profile.md
else
  RESULTS=$OUT/results-h2.md
fi
cp "$TMP/results.md" "$RESULTS"
cat "$RESULTS"
echo >&2
echo "bench: written to $RESULTS" >&2
