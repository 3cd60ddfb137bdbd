#!/usr/bin/env bash
# Soak of spoke (docs/reliability.md, "Load"): its maximum measured with wrk, then 70 % of it
# for BENCH_DURATION (default 5 minutes) with a pod replaced every 10 s, spoke's RSS and open
# file descriptors sampled every second. Writes bench/out/soak.md.
#
#   bash bench/soak.sh                      # or: npm run soak
#   BENCH_DURATION=60s bash bench/soak.sh   # shorter
#
# Knobs: BENCH_DURATION (300s), SOAK_RATE (fixed req/s instead of 70 % of the maximum),
# SOAK_CHURN (10s), SOAK_CONNECTIONS (50), BENCH_MAX_DURATION (10s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in wrk h2load nginx taskset node; do
  command -v "$tool" >/dev/null 2>&1 || { echo "soak: '$tool' not found. On Debian/Ubuntu: apt-get install wrk nghttp2-client nginx-light util-linux (and Node >= 22.18)" >&2; exit 1; }
done
[ -f dist/cli.js ] || { echo "soak: dist/ is missing: run 'npm run build' first (or 'npm run soak', which builds)" >&2; exit 1; }
exec node bench/soak.ts
