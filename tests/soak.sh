#!/usr/bin/env bash
# Soak test of ActorRefresh (not part of tests/run.sh): a real `serve` process under churn of accounts, faults and
# callers for a bounded number of minutes, sampling its managed heap (/metrics, meter System.Runtime) and resident set
# every 10 s, then saying whether memory stayed flat.
#   tests/soak.sh [minutes]     default 3; exits non-zero if memory grows or an invariant breaks
set -uo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-3}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export ACTORREFRESH_SOAK_MINUTES=$minutes
dotnet build tests/ActorRefresh.Host.Tests -c Release -nologo -v q || exit 1
timeout $(( ${minutes%.*} * 60 + 300 )) dotnet test tests/ActorRefresh.Host.Tests -c Release --no-build -nologo \
  --filter "FullyQualifiedName~Reliability.SoakTests" --logger "console;verbosity=detailed" 2>&1 \
  | grep -E '^\s+(minute|[0-9]+\.[0-9] |managed heap|reuse )|Passed!|Failed!|Error Message|Assert' | sed 's/^ *//'
exit "${PIPESTATUS[0]}"
