#!/usr/bin/env bash
# Node's own tests for cluster, worker_threads and child_process.fork with corral swapped in
# (../shared/conformance/run.sh, Node v20.11.1's files), as a CI step: prints the three counts
# and fails below the floors corral has reached, or if any test was killed by a signal.
# A test that fails is run once more on its own (the suite has timing-sensitive tests, and on
# 2 busy cores some miss their marks); one that passes then counts, and is listed as flaky.
#   scripts/conformance.sh            floors: worker 127, cluster 83, fork 21
#   CONFORMANCE_DIR=...               where run.sh is (default: ../shared/conformance)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${CONFORMANCE_DIR:-}"
for candidate in "$root/../shared/conformance" /work/shared/conformance; do
  [[ -z $dir && -x $candidate/run.sh ]] && dir=$candidate
done
if [[ -z $dir ]]; then
  echo "conformance: Node's test suite (shared/conformance/run.sh) not found; set CONFORMANCE_DIR" >&2
  exit 1
fi
# Short paths: tests put unix sockets under their output folder (as a path relative to the
# suite), and sun_path holds 107 bytes: the longest such path here is 104 with /tmp/cXXX.
out="$(mktemp -d /tmp/cXXX)"
cd "$root"
OUT="$out" "$dir/run.sh" "$root/register.js" | grep -v '^results:'

# Signal kills (not the timeout's SIGKILL) in the first run: a crash, whatever a retry says.
crashed=$(awk '$1 == "fail" && ($2 >= 128 && $2 != 137) {print $3 " (exit " $2 ")"}' "$out/results.txt")

final="$out.results"
cp "$out/results.txt" "$final"
flaky=()
n=0
while read -r _ _ file; do
  name=$(basename "$file" .js)
  n=$((n + 1))
  retry=$(OUT="${out}r$n" JOBS=1 FILTER="/$name\\.js\$" "$dir/run.sh" "$root/register.js" >/dev/null; \
    cat "${out}r$n/results.txt")
  if [[ $retry == pass* ]]; then
    flaky+=("$file")
    sed -i "s#^fail [0-9]* $file\$#pass 0 $file#" "$final"
  fi
done < <(grep '^fail ' "$out/results.txt")

status=0
declare -A floor=([cluster]=83 [worker]=127 [child-process-fork]=21)
echo "after one retry of each failure:"
for group in cluster worker child-process-fork; do
  total=$(grep -c " [a-z]*/test-$group" "$final")
  passed=$(grep -cE "^pass .* [a-z]*/test-$group" "$final")
  skipped=$(grep -cE "^skip .* [a-z]*/test-$group" "$final")
  verdict="ok (floor ${floor[$group]})"
  if (( passed < floor[$group] )); then verdict="BELOW the floor of ${floor[$group]}"; status=1; fi
  echo "  $group: $passed pass, $skipped skip, of $total: $verdict"
done
if (( ${#flaky[@]} > 0 )); then
  echo "passed on retry (flaky here): ${flaky[*]}"
fi
grep '^fail ' "$final" | sed 's/^fail [0-9]* /still failing: /'
if [[ -n $crashed ]]; then
  echo "killed by a signal:"
  echo "$crashed" | sed 's/^/  /'
  status=1
fi
echo "logs: $out (retries: ${out}r<n>)"
exit $status
