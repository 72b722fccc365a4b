#!/usr/bin/env bash
# npm run test:node24 — builds corral against Node 24 (from the npm registry) and runs the
# JS test suite with it. The Rust unit tests do not depend on the Node line.
set -euo pipefail
major="${1:-24}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$("$root/scripts/node-line.sh" "$major")"
export PATH="$bin:$PATH"
echo "corral: testing with $(node --version)"
cd "$root"
node scripts/build.js
node --test --test-concurrency=1 __test__/*.test.js
