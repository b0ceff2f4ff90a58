#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another, on one core each.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
#
# Stable toolchain: libFuzzer's coverage instrumentation needs only stable -C flags, but the
# sanitizers need -Z flags, so targets are built with `--sanitizer none` (eci-policy forbids
# unsafe code; what is left to find is panics, overflows under debug assertions, hangs and
# unbounded memory, which libFuzzer's -timeout and -rss_limit_mb catch).
#
# The seed corpus under fuzz/corpus/<target> is read, never written: new inputs go to
# fuzz/target/corpus/<target>, crashes to fuzz/artifacts/<target>. Exit status is libFuzzer's:
# non-zero on the first crash, hang (-timeout) or out-of-memory (-rss_limit_mb).
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build --sanitizer none
for t in "${targets[@]}"; do
    mkdir -p "target/corpus/$t" "artifacts/$t"
    echo "== fuzz $t for ${seconds}s (log: fuzz/target/fuzz-$t.log)"
    # One libFuzzer process per target: one core, as the machine is shared.
    status=0
    cargo fuzz run --sanitizer none "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"target/fuzz-$t.log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
        "target/fuzz-$t.log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "target/fuzz-$t.log" >&2
        echo "fuzz $t failed (exit $status); the input is under fuzz/artifacts/$t" >&2
        exit "$status"
    fi
done
