#!/usr/bin/env bash
# Runs every test of ActorRefresh. Installs and starts what the tests need, then
# `dotnet test ActorRefresh.sln`; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Throwaway PostgreSQL on loopback for the cluster tests (see tests/pg.sh).
if [[ -x tests/pg.sh ]]; then
  # shellcheck source=/dev/null
  source tests/pg.sh
  pg_start
  trap pg_stop EXIT
fi

results="$root/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"

dotnet build ActorRefresh.sln -c Release -nologo -v q
dotnet test ActorRefresh.sln -c Release --no-build -nologo \
  --logger "console;verbosity=normal" --logger "trx" --results-directory "$results" \
  -- xUnit.ParallelizeTestCollections=true
