#!/usr/bin/env bash
# npm run test:node22 | test:node24 | test:node26 (or test:lines for all three): builds corral
# against each given Node line (an official build from the npm registry, see node-line.sh) and
# runs the JS test suite with it. The Rust unit tests do not depend on the Node line: `npm test`
# runs them once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
for major in "${@:-24}"; do
  bin="$("$root/scripts/node-line.sh" "$major")"
  echo "corral: testing with $(PATH="$bin:$PATH" node --version)"
  PATH="$bin:$PATH" node scripts/build.js
  PATH="$bin:$PATH" scripts/test-js.sh
done
