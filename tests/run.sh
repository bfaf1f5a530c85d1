#!/usr/bin/env bash
# Runs every test of ActorRefresh: installs and starts what the tests need (a throwaway
# PostgreSQL on 127.0.0.1 for the cluster tests, Debian's Chromium for the browser tests), builds, packs into artifacts/packages, runs `dotnet test ActorRefresh.sln`,
# prints one "N passed, N failed" line and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# shellcheck source=tests/pg.sh
source tests/pg.sh
pg_start || { echo "tests/run.sh: could not start PostgreSQL" >&2; exit 1; }
trap pg_stop EXIT
# Debian's Chromium for the status page's browser tests (Playwright drives it; its own browser download is not reachable).
if [[ ! -x /usr/bin/chromium ]]; then
  echo "tests/run.sh: installing chromium" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || { echo "tests/run.sh: could not install chromium" >&2; echo "0 passed, 1 failed"; exit 1; }
fi

results="$root/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"

dotnet build ActorRefresh.sln -c Release -nologo -v q || { echo "0 passed, 1 failed"; exit 1; }
# The NuGet packages and the actor-refresh tool; the Packaging tests restore and install them from this folder.
packages="$root/artifacts/packages"
rm -rf "$packages"
dotnet pack ActorRefresh.sln -c Release --no-build -nologo -v q -o "$packages" \
  || { echo "tests/run.sh: dotnet pack failed" >&2; echo "0 passed, 1 failed"; exit 1; }
export ACTORREFRESH_PACKAGES="$packages"

# Hygiene: whitespace as .editorconfig says, and no package with a known vulnerability (as far as the registry tells).
dotnet format whitespace ActorRefresh.sln --verify-no-changes -v q \
  || { echo "tests/run.sh: whitespace differs from .editorconfig; run: dotnet format whitespace ActorRefresh.sln" >&2; echo "0 passed, 1 failed"; exit 1; }
vulnerable=$(dotnet list ActorRefresh.sln package --vulnerable --include-transitive 2>&1)
if grep -q "has the following vulnerable packages" <<<"$vulnerable"; then
  echo "$vulnerable" >&2; echo "tests/run.sh: vulnerable packages" >&2; echo "0 passed, 1 failed"; exit 1
fi
# Akka.NET's own packages resolve to one version (Akka.Persistence.Sql, Akka.Management with its Akka.Http.Shim, and the
# analyzers version on their own; Akka.Discovery is Akka's and is checked).
akka=$(dotnet list ActorRefresh.sln package --include-transitive 2>&1 | awk '$1 == ">" && $2 ~ /^Akka(\.|$)/ && $2 != "Akka.Analyzers" && $2 !~ /^Akka\.Persistence\.Sql/ && $2 != "Akka.Management" && $2 != "Akka.Http.Shim" {print $2, $NF}' | sort -u)
# Exactly one non-empty version: none at all means the listing failed, and must not pass the check.
if [[ $(awk 'NF == 2 {print $2}' <<<"$akka" | sort -u | wc -l) -ne 1 ]]; then
  echo "${akka:-(no Akka.NET package listed)}" >&2; echo "tests/run.sh: Akka.NET packages do not resolve to exactly one version" >&2; echo "0 passed, 1 failed"; exit 1
fi
# The packaging tests restore, build and install from the packages (a few CPU-heavy dotnet processes): they run on their
# own afterwards, so their load does not fall on the timing-sensitive cluster and outage tests.
packaging="FullyQualifiedName~ActorRefresh.Host.Tests.Packaging"
dotnet test ActorRefresh.sln -c Release --no-build -nologo --filter "FullyQualifiedName!~ActorRefresh.Host.Tests.Packaging" \
  --logger "console;verbosity=minimal" --logger "trx" --results-directory "$results"
status=$?
dotnet test tests/ActorRefresh.Host.Tests -c Release --no-build -nologo --filter "$packaging" \
  --logger "console;verbosity=minimal" --logger "trx;LogFileName=packaging.trx" --results-directory "$results"
[[ $? -eq 0 ]] || status=1

passed=0; failed=0
for trx in "$results"/*.trx; do
  [[ -f "$trx" ]] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
echo "${passed} passed, ${failed} failed"
if [[ $status -ne 0 || $failed -ne 0 || $passed -eq 0 ]]; then exit 1; fi
