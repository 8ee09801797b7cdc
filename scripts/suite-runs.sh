# Shared by the scripts that run the suite under another runtime
# (scripts/arm64.sh, scripts/node-versions.sh); sourced, not run.

# Runs a command up to three times, waiting longer after each failure (for
# the network fetches: apt, the npm registry).
retry() {
  local i
  for i in 1 2 3; do
    "$@" && return 0
    echo "$(basename "$0"): '$*' failed (try $i of 3)" >&2
    sleep $((i * 10))
  done
  return 1
}

# Unpacks the official Node binary for PLATFORM (linux-x64, linux-arm64) at
# VERSION into DIR (DIR/bin/node), from the npm registry's node-PLATFORM
# package, unless it is there already. usage: fetch_node PLATFORM VERSION DIR
fetch_node() {
  local platform=$1 version=$2 dir=$3 tmp
  [ -x "$dir/bin/node" ] && return
  tmp=$(mktemp -d)
  (cd "$tmp" && retry npm pack --silent "node-$platform@$version" >/dev/null)
  mkdir -p "$dir"
  tar -xzf "$tmp"/node-"$platform"-*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
  chmod +x "$dir/bin/node"
}

passed=0
failed=0
skipped=0

# Runs one whole suite command (its output shown as it goes) and adds its
# last line, `N passed, N failed[, N skipped]`, to the totals; a run that
# printed no such line counts as one failure. usage: run_counted LABEL CMD...
run_counted() {
  local label=$1 log last
  shift
  log=$(mktemp)
  "$@" 2>&1 | tee "$log" || true
  last=$(tail -n 1 "$log")
  rm -f "$log"
  if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
  else
    echo "$label printed no summary"
    failed=$((failed + 1))
  fi
}

# The totals, as the last line CI reads; the exit status says whether any failed.
report_counted() {
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
}
