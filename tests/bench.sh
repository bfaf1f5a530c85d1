#!/usr/bin/env bash
# Runs the ActorRefresh benchmarks against HybridCache, FusionCache, a Lazy<Task> dictionary and a plain
# ConcurrentDictionary, and writes artifacts/bench/results.json and artifacts/bench/results.md.
#   tests/bench.sh           full run (100,000 accounts in the scale scenario, 30 s Retry-After; tens of minutes)
#   tests/bench.sh --quick   under five minutes on a 2-core machine
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode=()
if [[ "${1:-}" == "--quick" ]]; then mode=(--quick); elif [[ -n "${1:-}" ]]; then echo "usage: tests/bench.sh [--quick]" >&2; exit 2; fi

out="$root/artifacts/bench"
project="tests/ActorRefresh.Benchmarks/ActorRefresh.Benchmarks.csproj"
rm -rf "$out"
mkdir -p "$out"

echo "building (Release)..." >&2
dotnet build "$project" -c Release -nologo -v quiet >&2
dll="$root/tests/ActorRefresh.Benchmarks/bin/Release/net10.0/ActorRefresh.Benchmarks.dll"
run() { dotnet "$dll" "$@" "${mode[@]}" --out "$out"; }

# Each part in its own process: the scale scenario's heap figures must not include the other parts.
run hot >&2
run load >&2
run scale >&2
run report
echo >&2
echo "written: $out/results.json, $out/results.md" >&2
