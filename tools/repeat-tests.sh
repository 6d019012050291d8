#!/usr/bin/env bash
# Runs the PostgreSQL tests and the core tests (which run the shared runtime suite on the memory store) N times in
# a row, to catch flaky tests: builds once, stops at the first failing run and says which, and ends with
# "repeat: <passed> of <N> runs passed". Not part of CI.
#
# Usage: tools/repeat-tests.sh [N=20]
# Each run's output goes to $REPEAT_LOGS (default: a new folder under /tmp), kept when a run fails.
set -euo pipefail

runs="${1:-20}"

if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [N=20]   (N: how many runs, at least 1)" >&2
    exit 2
fi

cd "$(dirname "$0")/.."
logs="${REPEAT_LOGS:-$(mktemp -d /tmp/repeat-tests.XXXXXX)}"
mkdir -p "$logs"

echo "repeat: building once"
dotnet build Sourced.FSharp.sln --nologo -v quiet >"$logs/build.log" 2>&1 || {
    echo "repeat: the build failed; see $logs/build.log" >&2
    tail -n 30 "$logs/build.log" >&2
    exit 1
}

# name, then the test program (run without building again)
suites=(
    "postgres:tests/Sourced.Postgres.Tests/bin/Debug/net10.0/Sourced.Postgres.Tests.dll"
    "core:tests/Sourced.Core.Tests/bin/Debug/net10.0/Sourced.Core.Tests.dll"
)

passed=0

for ((run = 1; run <= runs; run++)); do
    started=$SECONDS

    for suite in "${suites[@]}"; do
        name="${suite%%:*}"
        program="${suite#*:}"
        log="$logs/run-$run-$name.log"

        if ! dotnet "$program" --no-spinner --colours 0 >"$log" 2>&1; then
            echo "repeat: run $run of $runs failed in the $name tests; their output: $log"
            grep -E -A 12 " ERR\]|^expecto:" "$log" | head -n 60 || true
            echo "repeat: $passed of $runs runs passed"
            exit 1
        fi

        rm -f "$log"
    done

    passed=$((passed + 1))
    echo "repeat: run $run of $runs passed in $((SECONDS - started)) s"
done

rm -f "$logs/build.log"
rmdir "$logs" 2>/dev/null || true
echo "repeat: $passed of $runs runs passed"
