#!/usr/bin/env bash
# The JS suite with the Node on PATH, bounded: a test that hangs fails after 4 minutes with
# its name (--test-timeout), and a file whose handles outlive its tests (Node 22+ then waits
# for them) ends the run after 20 minutes instead of holding CI until its own limit.
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --kill-after=10 1200 node --test --test-concurrency=1 --test-timeout=240000 __test__/*.test.js
