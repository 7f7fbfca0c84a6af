#!/usr/bin/env bash
# bench-start-net.sh [N] [BUILD_DIR]: bench-start.sh for network none and
# bridge (veth on berth0, IPAM, hosts files), and what bridge mode costs.
# Targets (issue 3): berth-none median <= 0.5x crun, berth-bridge <= 1.0x crun.
set -euo pipefail
BENCH_NETWORKS="none bridge" "$(dirname "$0")/bench-start.sh" "$@"
echo "targets: berth-none/crun median <= 0.50, berth-bridge/crun median <= 1.00"
