#!/usr/bin/env bash
# Checks the deployment files: systemd parses the units with no warning (unknown keys, bad
# values), and every flag the service passes to `eci-guard serve` exists.
# Usage: deploy/verify.sh [PATH-TO-eci-guard]   (default: target/debug/eci-guard, built if absent)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/debug/eci-guard}
if [ ! -x "$bin" ]; then
    cargo build -q -p eci-guard
fi
bin=$(realpath "$bin")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# systemd-analyze wants the ExecStart binary to exist: point it at the one just built.
sed "s|/usr/bin/eci-guard|$bin|" deploy/eci-guard.service >"$work/eci-guard.service"
# The drop-in is checked inside a copy of the socket unit it amends.
{
    printf '[Unit]\nDescription=drop-in check\n'
    cat deploy/dockerd-override.conf
} >"$work/docker-engine-check.socket"
printf '[Service]\nExecStart=/bin/true\n' >"$work/docker-engine-check.service"

status=0
for unit in "$work/eci-guard.service" "$work/docker-engine-check.socket"; do
    out=$(systemd-analyze verify --man=no "$unit" 2>&1) || status=1
    # Warnings (unknown keys, values systemd ignores) leave the exit status at 0.
    if [ -n "$out" ]; then
        echo "$out" >&2
        status=1
    fi
done

# Every --flag of ExecStart must be one `eci-guard serve` takes.
help=$("$bin" serve --help)
flags=$(sed -n '/^ExecStart=/,/[^\\]$/p' deploy/eci-guard.service | grep -o -- '--[a-z-]*' || true)
for flag in $flags; do
    if ! grep -q -- "$flag" <<<"$help"; then
        echo "eci-guard serve has no $flag (used by deploy/eci-guard.service)" >&2
        status=1
    fi
done

if [ "$status" -eq 0 ]; then
    echo "deploy: units verified, $(wc -w <<<"$flags") serve flags known"
fi
exit "$status"
