#!/usr/bin/env bash
# The whole test suite: what the README's test command runs, and what .ci/run runs.
# Needs Rust and Node.js on the PATH; every server a test needs is started by the test itself
# on 127.0.0.1 with a free port, and stopped again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "error: the tests need Node.js ('node' on the PATH): they profile real Node processes." >&2
  exit 1
fi

cargo test --workspace --all-features --locked "$@"
