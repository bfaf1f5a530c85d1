#!/usr/bin/env bash
# Runs the ActorRefresh benchmarks against HybridCache, FusionCache, a Lazy<Task> dictionary and a plain
# ConcurrentDictionary (and measures cluster failover with three `serve --cluster` processes on a throwaway
# PostgreSQL from tests/pg.sh), and writes artifacts/bench/results.json and artifacts/bench/results.md.
#   tests/bench.sh           full run (100,000 accounts in the scale scenario, 30 s Retry-After; tens of minutes)
#   tests/bench.sh --quick   under five minutes on a 2-core machine
#   tests/bench.sh --cluster only scenario 6, full (5 failovers with test timings, 3 with production timings);
#                            ACTORREFRESH_BENCH_TIMINGS=production (or test) measures only those timings (~2 min for production)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode=()
only_cluster=0
if [[ "${1:-}" == "--quick" ]]; then mode=(--quick); elif [[ "${1:-}" == "--cluster" ]]; then only_cluster=1; elif [[ -n "${1:-}" ]]; then echo "usage: tests/bench.sh [--quick|--cluster]" >&2; exit 2; fi

out="$root/artifacts/bench"
project="tests/ActorRefresh.Benchmarks/ActorRefresh.Benchmarks.csproj"
rm -rf "$out"
mkdir -p "$out"

echo "building (Release; the Host too, for scenario 6)..." >&2
dotnet build "$project" -c Release -nologo -v quiet >&2
export ACTORREFRESH_HOST_DLL="$root/src/ActorRefresh.Host/bin/Release/net10.0/actor-refresh.dll"
dll="$root/tests/ActorRefresh.Benchmarks/bin/Release/net10.0/ActorRefresh.Benchmarks.dll"
run() { dotnet "$dll" "$@" "${mode[@]}" --out "$out"; }

# Each part in its own process: the scale scenario's heap figures must not include the other parts.
if [[ $only_cluster == 0 ]]; then
  run hot >&2
  run load >&2
  run scale >&2
fi
# Scenario 6 needs PostgreSQL: a throwaway one on a free loopback port (not the tests' fixed one), removed at exit.
if [[ -z "${ACTORREFRESH_TEST_PG:-}" ]]; then
  # shellcheck source=tests/pg.sh
  source "$root/tests/pg.sh"
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  trap pg_stop EXIT
  pg_start || echo "PostgreSQL could not be started: scenario 6 is reported as not measured" >&2
fi
run cluster >&2
run report
echo >&2
echo "written: $out/results.json, $out/results.md" >&2
