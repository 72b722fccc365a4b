#!/usr/bin/env bash
# scripts/pool-suites.sh [WORKDIR]
#
# Runs the test suites of worker-pool libraries against stock Node and against corral (swapped in
# with NODE_OPTIONS="--require <this checkout>/register.js") and prints pass/fail/skip per run:
#
#   piscina 5.3.2      node --test (28 files), with --import=tsx and with --require=tsx/cjs
#   tinypool 2.1.0     vitest (one forks child)
#   workerpool 10.0.3  mocha
#   poolifier 5.3.2    vitest (one forks child)
#   jest-worker        jest 30 on packages/jest-worker of jest v30.4.2, its runner's workers as child
#                      processes and as threads (--workerThreads)
#
# Modes: node = NODE_OPTIONS unset; corral = the register preloaded; corral-cold = corral with
# CORRAL_WARM_THREADS=0 (no pre-started threads).
#
# Sources. Only piscina's npm tarball ships its tests; it is downloaded with `npm pack`. The npm
# tarballs of the other four hold only built code, so their tests come from a checkout of the
# release tag in the library's git repository, which this script does not download (it only
# uses the npm registry). Put the checkouts (a clone with the tag, or a plain source tree of
# that release) at WORKDIR/src/<name>, or point SRC_<name> at them:
#
#   git clone https://github.com/tinylibs/tinypool     WORKDIR/src/tinypool     (tag v2.1.0)
#   git clone https://github.com/josdejong/workerpool  WORKDIR/src/workerpool   (tag v10.0.3)
#   git clone https://github.com/poolifier/poolifier   WORKDIR/src/poolifier    (tag v5.3.2)
#   git clone https://github.com/jestjs/jest           WORKDIR/src/jest         (tag v30.4.2)
#
# (a git repository is read with `git archive <tag>`, so its checked-out branch does not matter).
# A library whose sources are missing is skipped with a message. Everything else (devDependencies)
# comes from the npm registry.
#
# Each library is set up once in WORKDIR/<name> (delete that directory, or set FORCE_SETUP=1, to
# redo it). Logs: WORKDIR/logs/<suite>-<mode>-<n>.{log,json,failed}.
#
# Environment:
#   SUITES="piscina_import piscina_require tinypool workerpool poolifier jest_processes jest_threads"
#   PLAN="node:1 corral:2 corral-cold:1"   runs per mode; PLAN_<suite> overrides it for one suite
#   TIMEOUT_<suite>=seconds                default 900 (poolifier 1800: its node runs hang in
#                                          destroy() and wait out 60 s test timeouts)
#   CORRAL_REGISTER=path                   default: register.js of this checkout
#   SETUP_ONLY=1                           set up, run nothing
#
# Every run gets its own session/process group (setsid) and a timeout. Afterwards whatever is
# left of it is killed: its process group, plus any process that carries the run's marker
# variable in its environment (catches detached children that made their own session). Nothing
# is ever killed by name.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mkdir -p "${1:-/tmp/corral-pool-suites}" && cd "${1:-/tmp/corral-pool-suites}" && pwd)"
register="${CORRAL_REGISTER:-$root/register.js}"
suites=(${SUITES:-piscina_import piscina_require tinypool workerpool poolifier jest_processes jest_threads})
logs="$work/logs"
mkdir -p "$logs" "$work/src"
results="$logs/results-$(date +%Y%m%d-%H%M%S).tsv"

# The tools below (npm, builds, result parsing) must never run under corral.
unset NODE_OPTIONS CORRAL_WARM_THREADS

say() { echo "pool-suites: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Setup

# Rewrites DIR/package.json (original kept as package.json.orig): keeps only the listed
# devDependencies (linters, formatters, commit hooks, docs and coverage tools are not needed to
# run the tests and make the install much larger), drops the `prepare` script (npm runs it on
# `npm install`; upstream it installs git hooks) and `packageManager` (pnpm pins).
trim_package_json() {
  local dir=$1 keep=$2 add=${3:-}
  cp -n "$dir/package.json" "$dir/package.json.orig"
  node - "$dir/package.json" "$keep" "$add" <<'EOF'
const fs = require('fs');
const [file, keep, add] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
const wanted = new Set(keep.split(/\s+/).filter(Boolean));
const dev = {};
for (const [name, range] of Object.entries(pkg.devDependencies || {})) if (wanted.has(name)) dev[name] = range;
for (const spec of add.split(/\s+/).filter(Boolean)) {
  const at = spec.lastIndexOf('@');
  dev[spec.slice(0, at)] = spec.slice(at + 1);
}
pkg.devDependencies = dev;
if (pkg.scripts) delete pkg.scripts.prepare;
delete pkg.packageManager;
fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
EOF
}

# Copies the release's sources (optionally only PATHS) from SRC into DEST: `git archive TAG`
# when SRC is a git repository that has TAG, else a plain copy of the tree.
copy_sources() {
  local src=$1 tag=$2 dest=$3; shift 3
  mkdir -p "$dest"
  if git -C "$src" rev-parse -q --verify "refs/tags/$tag" >/dev/null 2>&1; then
    git -C "$src" archive "$tag" "$@" | tar -x -C "$dest"
  else
    say "$src is not a git repository with tag $tag; copying its tree as is"
    local p
    for p in "${@:-.}"; do
      mkdir -p "$dest/$(dirname "$p")"
      tar -C "$src" --exclude=node_modules --exclude=.git -cf - "$p" | tar -x -C "$dest"
    done
  fi
}

check_version() { # DIR/package.json's version vs the one these results are about
  local v; v=$(node -p "require('$1/package.json').version")
  [ "$v" = "$2" ] || say "warning: $1 is version $v, expected $2"
}

npm_install() { (cd "$1" && npm install --no-audit --no-fund --loglevel=error); }

setup_piscina() {
  local d=$work/piscina tgz
  mkdir -p "$d" "$work/tmp"
  tgz=$(cd "$work/tmp" && npm pack piscina@5.3.2 --silent)
  tar -xzf "$work/tmp/$tgz" -C "$d" --strip-components=1   # ships dist/ and test/
  # What scripts/run-tests.js needs (tsx, glob) and what the tests import.
  trim_package_json "$d" "@types/node abort-controller concat-stream glob tsx typescript"
  npm_install "$d"
}

setup_tinypool() {
  local d=$work/tinypool
  copy_sources "$1" v2.1.0 "$d"
  check_version "$d" 2.1.0
  trim_package_json "$d" "@types/node tsdown typescript vite vitest"
  npm_install "$d"
  # vitest.config.ts aliases `tinypool` to ./dist, which the tests' worker files load.
  (cd "$d" && node_modules/.bin/tsdown)
}

setup_workerpool() {
  local d=$work/workerpool
  copy_sources "$1" v10.0.3 "$d"
  check_version "$d" 10.0.3
  # All devDependencies: the rollup build (dist/ and src/generated/embeddedWorker.js, both used
  # by the tests) needs the babel ones, the tests need find-process, fs-extra, date-format.
  npm_install "$d"
  (cd "$d" && node_modules/.bin/rollup -c rollup.config.mjs)
}

setup_poolifier() {
  local d=$work/poolifier
  copy_sources "$1" v5.3.2 "$d"
  check_version "$d" 5.3.2
  # tslib: @rollup/plugin-typescript's peer dependency, which pnpm provides upstream and npm
  # does not install.
  trim_package_json "$d" "@rollup/plugin-terser @rollup/plugin-typescript @types/node cross-env rollup \
    rollup-plugin-analyzer rollup-plugin-command rollup-plugin-delete rollup-plugin-dts sinon typescript vitest" \
    "tslib@^2.8.1"
  # = the build step of upstream's `pnpm test`.
  npm_install "$d"
  (cd "$d" && node_modules/.bin/rollup --config --environment BUILD:development --environment SOURCEMAP:false)
}

setup_jest() {
  local d=$work/jest-worker
  copy_sources "$1" v30.4.2 "$d" packages/jest-worker babel.config.js
  check_version "$d/packages/jest-worker" 30.4.1
  # A one-package stand-in for the jest monorepo: its workspace dependencies (jest-util,
  # jest-leak-detector) come from npm, plus the babel setup the repo's jest config transforms with.
  cat > "$d/package.json" <<'EOF'
{
  "name": "jest-worker-tests",
  "private": true,
  "engines": {"node": "^18.14.0 || ^20.0.0 || ^22.0.0 || >=24.0.0"},
  "devDependencies": {
    "jest": "^30.2.0", "babel-jest": "^30.2.0", "@babel/core": "^7.27.4", "@babel/cli": "^7.27.2",
    "@babel/preset-env": "^7.27.2", "@babel/preset-typescript": "^7.27.1",
    "@babel/plugin-transform-modules-commonjs": "^7.27.1", "semver": "^7.5.3",
    "jest-util": "^30.2.0", "jest-leak-detector": "^30.2.0", "@ungap/structured-clone": "^1.3.0",
    "merge-stream": "^2.0.0", "supports-color": "^8.1.1", "get-stream": "^6.0.0", "worker-farm": "^1.7.0",
    "graceful-fs": "^4.2.11"
  }
}
EOF
  # The settings of the repo's jest.config.mjs that matter for this package.
  cat > "$d/jest.config.js" <<'EOF'
module.exports = {
  rootDir: __dirname,
  roots: ['<rootDir>/packages/jest-worker'],
  testPathIgnorePatterns: ['/__fixtures__/', '/__benchmarks__/', '/__typetests__/', '/node_modules/', '/build/'],
  modulePathIgnorePatterns: ['packages/.*/build'],
  snapshotFormat: { printBasicPrototype: true },
  testTimeout: 70000,
  transform: { '\\.[jt]sx?$': require.resolve('babel-jest') },
};
EOF
  # leak-integration.test.ts loads the built package (packages/jest-worker/build).
  npm_install "$d"
  (cd "$d" && node_modules/.bin/babel packages/jest-worker/src \
    -d packages/jest-worker/build --extensions .ts >/dev/null)
}

# setup LIB: once per WORKDIR (marker file .pool-suites-ready). Returns non-zero to skip LIB.
setup() {
  local lib=$1 dir=$work/$1 src
  [ "$lib" = jest-worker ] && src=${SRC_jest:-$work/src/jest} || src=$(eval echo "\${SRC_$lib:-$work/src/$lib}")
  [ -f "$dir/.pool-suites-ready" ] && [ -z "${FORCE_SETUP:-}" ] && return 0
  if [ "$lib" != piscina ] && [ ! -d "$src" ]; then
    say "SKIP $lib: sources not found at $src (see the header of this script: check out its release tag there, or set SRC_${lib%-worker})"
    return 1
  fi
  say "setting up $lib in $dir"
  rm -rf "$dir"
  # set -e stops at the first failing step. (Not as `( ... ) || ...`: bash ignores set -e in a
  # command whose status is tested.)
  ( set -e
    case $lib in
      piscina) setup_piscina ;;
      tinypool) setup_tinypool "$src" ;;
      workerpool) setup_workerpool "$src" ;;
      poolifier) setup_poolifier "$src" ;;
      jest-worker) setup_jest "$src" ;;
    esac ) > "$logs/setup-$lib.log" 2>&1
  [ $? = 0 ] || { say "SKIP $lib: setup failed, see $logs/setup-$lib.log"; return 1; }
  touch "$dir/.pool-suites-ready"
}

# ---------------------------------------------------------------------------------------------
# Suites: library directory, result format, command. $json is the run's JSON report path.

suite_lib() { case $1 in piscina_*) echo piscina ;; jest_*) echo jest-worker ;; *) echo "$1" ;; esac; }

suite_cmd() {
  local json=$1
  case $suite in
    # = piscina's scripts/run-tests.js (which spawns `node` with these flags): every test file,
    # --test-concurrency = cores - 1. The --require=tsx/cjs variant loads the TS tests through
    # the CJS hook instead of the ESM loader.
    piscina_import|piscina_require)
      local hook=--import=tsx; [ $suite = piscina_require ] && hook=--require=tsx/cjs
      cmd=(node --enable-source-maps "$hook" --test --test-concurrency=$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))
           $(cd "$work/piscina" && echo test/*.test.ts)) ;;
    tinypool)
      cmd=(env NO_COLOR=1 node_modules/.bin/vitest run --reporter=verbose --reporter=json "--outputFile.json=$json") ;;
    workerpool)
      cmd=(node_modules/.bin/mocha test --reporter=json --reporter-option "output=$json") ;;
    # CI=true as upstream's CI: skips the Shutdown tests and the afterAll destroy()s, which hang on
    # stock node 20. Retries off and 60 s instead of 240 s timeouts: a hung destroy() on node
    # would otherwise cost 3 x 240 s per test.
    poolifier)
      cmd=(env NO_COLOR=1 CI=true node_modules/.bin/vitest run --reporter=verbose --reporter=json "--outputFile.json=$json"
           --retry=0 --testTimeout=60000 --hookTimeout=60000) ;;
    # --maxWorkers=2 so jest runs the test files in its own jest-worker pool even on a 2-core
    # machine (with cores - 1 = 1 worker it runs them in band). A fresh cache directory per run:
    # with cached timings that are all fast, jest would run in band anyway.
    jest_processes|jest_threads)
      local threads=(); [ $suite = jest_threads ] && threads=(--workerThreads)
      cmd=(node_modules/.bin/jest --ci --maxWorkers=2 "${threads[@]}" "--cacheDirectory=$json.cache"
           --json "--outputFile=$json") ;;
    *) say "unknown suite $suite"; return 1 ;;
  esac
}

suite_format() { case $1 in piscina_*) echo tap ;; workerpool) echo mocha ;; *) echo jest ;; esac; }

# Prints "tests pass fail skip notes" for a run and writes the failed tests' names to $3.
summarize() { # FORMAT LOG JSON FAILED LIBDIR
  node - "$@" <<'EOF'
const fs = require('fs');
const [format, log, json, failedFile, dir] = process.argv.slice(2);
const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
let data = null;
try { data = JSON.parse(fs.readFileSync(json, 'utf8')); } catch {}
let r = null, failed = [], notes = [];
if (format === 'tap') {
  // node --test's TAP summary (the last one printed).
  const get = (k) => { const m = [...text.matchAll(new RegExp(`^# ${k} (\\d+)$`, 'gm'))].pop(); return m ? +m[1] : null; };
  if (get('tests') !== null) {
    r = [get('tests'), get('pass'), get('fail'), get('skipped') + get('todo')];
    if (get('cancelled')) notes.push(`${get('cancelled')} cancelled`);
  }
  failed = [...text.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]);
} else if (format === 'mocha' && data) {
  const s = data.stats;
  r = [s.tests, s.passes, s.failures, s.pending];
  failed = data.failures.map((t) => t.fullTitle);
} else if (format === 'jest' && data) {  // jest --json, vitest's json reporter (same shape)
  r = [data.numTotalTests, data.numPassedTests, data.numFailedTests, data.numPendingTests + data.numTodoTests];
  const okFiles = data.testResults.filter((f) => f.status !== 'failed').length;
  if (okFiles !== data.testResults.length) notes.push(`files ${okFiles}/${data.testResults.length}`);
  for (const f of data.testResults) {
    const file = require('path').relative(dir, f.name);
    for (const t of f.assertionResults) if (t.status === 'failed') failed.push(`${file} > ${t.fullName || t.title}`);
    if (f.status === 'failed' && !f.assertionResults.some((t) => t.status === 'failed'))  // failed to load/run
      failed.push(`${file}: ${String(f.message).trim().split('\n')[0].slice(0, 100)}`);
  }
  const errors = text.match(/^\s*Errors\s+(\d+) errors?/m);  // vitest: unhandled errors
  if (errors) notes.push(`${errors[1]} unhandled`);
}
fs.writeFileSync(failedFile, [...new Set(failed)].sort().join('\n') + (failed.length ? '\n' : ''));
console.log([...(r || ['-', '-', '-', '-']), notes.join(', ') || '-'].join('\t'));
EOF
}

# ---------------------------------------------------------------------------------------------
# Running

# What remains of a run: processes in its session or process group, or with its marker in their
# environment. Prints "pid state" lines.
remains() { # uses $SID and $MARKER
  local p s rest
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    s=$(cat /proc/$p/stat 2>/dev/null) || continue
    rest=${s##*) }; set -- $rest   # fields after "(comm)": state ppid pgrp session
    if [ "$3" = "$SID" ] || [ "$4" = "$SID" ] ||
       grep -qzxF "POOL_SUITES_RUN=$MARKER" /proc/$p/environ 2>/dev/null; then
      echo "$p $1"
    fi
  done
}

run_one() { # SUITE MODE N
  local suite=$1 mode=$2 n=$3 lib label log json failed to pid rc start dur left zombies line
  lib=$(suite_lib "$suite"); label=$suite-$mode-$n
  log=$logs/$label.log; json=$logs/$label.json; failed=$logs/$label.failed
  rm -rf "$json" "$json.cache" "$failed"
  suite_cmd "$json" || return
  local envs=(env -u NODE_OPTIONS -u CORRAL_WARM_THREADS)
  case $mode in
    node) ;;
    corral) envs+=("NODE_OPTIONS=--require $register") ;;
    corral-cold) envs+=("NODE_OPTIONS=--require $register" CORRAL_WARM_THREADS=0) ;;
    *) say "unknown mode $mode"; return ;;
  esac
  to=$(eval echo "\${TIMEOUT_$suite:-}"); [ -n "$to" ] || { [ $suite = poolifier ] && to=1800 || to=900; }
  local marker="$label.$$.$RANDOM"
  echo "# $(date -Is) $label: ${envs[*]} POOL_SUITES_RUN=$marker timeout $to ${cmd[*]}" > "$log"
  say "run $label (timeout ${to}s)"
  start=$(date +%s.%N)
  # setsid: new session and process group whose id is this pid (a background job of a
  # non-interactive shell is no group leader, so setsid execs in place). timeout -k: SIGTERM
  # at the limit, SIGKILL 10 s later.
  (cd "$work/$lib" && exec setsid "${envs[@]}" POOL_SUITES_RUN="$marker" timeout -k 10 "$to" "${cmd[@]}") \
    >> "$log" 2>&1 < /dev/null &
  pid=$!
  wait $pid; rc=$?
  dur=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  sleep 2   # let exiting children go
  SID=$pid MARKER=$marker
  left=$(remains | awk '$2 != "Z" { print $1 }' | xargs)
  zombies=$(remains | awk '$2 == "Z"' | wc -l)
  if [ -n "$left" ]; then
    echo "# LEFTOVER: $(ps -o pid=,pgid=,args= -p "${left// /,}" | cut -c1-200 | tr '\n' ';')" >> "$log"
    kill -KILL -- -"$pid" 2>/dev/null          # the run's process group
    kill -KILL $left 2>/dev/null               # members that left the group (by pid)
  fi
  # Zombies reparented to a PID 1 that does not reap them can't be removed; they are only noted.
  [ "$zombies" -gt 0 ] && echo "# zombies of this run (unreaped by PID 1): $zombies" >> "$log"
  local status=ok
  case $rc in 0) ;; 124|137) status=TIMEOUT ;; *) status="rc=$rc" ;; esac
  echo "# $status duration=${dur}s" >> "$log"
  line=$(summarize "$(suite_format "$suite")" "$log" "$json" "$failed" "$work/$lib")
  printf '%s\t%s\t%s\t%s\t%ss\t%s\t%s\n' "$suite" "$mode" "$n" "$status" "$dur" \
    "$(echo "$left" | wc -w)" "$line" >> "$results"
  rm -rf "$json.cache"
}

# ---------------------------------------------------------------------------------------------
# Main

[ -f "$register" ] || { say "no corral register at $register"; exit 1; }
ls "$(dirname "$register")"/build/corral-node*.node >/dev/null 2>&1 ||
  { say "corral is not built ($(dirname "$register")/build); run: npm run build"; exit 1; }
# corral really is what the programs get under NODE_OPTIONS (guards against a broken preload).
# (The register installs lazily: corral's modules load on the first use of a replaced export.)
active=$(NODE_OPTIONS="--require $register" node -e "
  require('worker_threads').Worker;
  console.log(Object.keys(require.cache).some((f) => f.startsWith('$(dirname "$register")/lib/')))")
[ "$active" = true ] || { say "corral's register did not take over worker_threads"; exit 1; }

runnable=()
for suite in "${suites[@]}"; do
  lib=$(suite_lib "$suite")
  if setup "$lib"; then runnable+=("$suite"); fi
done
[ -n "${SETUP_ONLY:-}" ] && exit 0

say "corral: $register ($(git -C "$(dirname "$register")" rev-parse --short HEAD 2>/dev/null || echo 'not a git tree'))"
say "results: $results"
for suite in "${runnable[@]}"; do
  plan=$(eval echo "\${PLAN_$suite:-${PLAN:-node:1 corral:2 corral-cold:1}}")
  for step in $plan; do
    for ((n = 1; n <= ${step#*:}; n++)); do run_one "$suite" "${step%:*}" "$n"; done
  done
done

echo
{
  printf 'suite\tmode\trun\tstatus\ttime\tleft\ttests\tpass\tfail\tskip\tnotes\n'
  cat "$results"
} | column -t -s $'\t'

# Tests that failed on corral but in no node run of the same suite, and the other way round
# (this invocation's runs only: WORKDIR may hold logs of earlier ones).
labels() { awk -F'\t' -v s="$1" -v m="$2" '$1 == s && $2 ~ m { print $1 "-" $2 "-" $3 }' "$results"; }
failed_in() { local l; for l in "$@"; do cat "$logs/$l.failed" 2>/dev/null; done | sed '/^$/d' | sort -u; }
for suite in "${runnable[@]}"; do
  node_runs=$(labels "$suite" '^node$'); corral_runs=$(labels "$suite" '^corral')
  [ -n "$node_runs" ] && [ -n "$corral_runs" ] || continue
  for l in $corral_runs; do
    extra=$(comm -23 <(failed_in "$l") <(failed_in $node_runs))
    [ -n "$extra" ] && { echo "$l: failed here, passed in every node run:"; echo "$extra" | sed 's/^/    /'; }
  done
  for l in $node_runs; do
    extra=$(comm -23 <(failed_in "$l") <(failed_in $corral_runs))
    [ -n "$extra" ] && { echo "$l: failed on node, passed in every corral run:"; echo "$extra" | sed 's/^/    /'; }
  done
done
echo "logs: $logs"
