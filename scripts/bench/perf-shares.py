"""Shares of a server's CPU samples by where they were spent, from `perf record` data.

    perf record -e cpu-clock -g -p PID -o NAME.perf.data -- sleep 5   (node started with --perf-basic-prof)
    python3 scripts/bench/perf-shares.py NAME.perf.data [...]

Prints one markdown row per file: kernel, FFI marshalling, libc, JS + V8 runtime,
JIT compiling, GC, the runtime's own native code. Samples are grouped by their
leaf and the two frames above it (user stacks rarely unwind further: libc and
the FFI addon, ffi-rs then and koffi now, may have no frame pointers), so a `malloc` whose caller did not unwind lands
in "libc". See docs/benchmarks.md for how the echo profiles were taken.
"""
import collections
import re
import subprocess
import sys

COLUMNS = ['kernel', 'FFI marshalling', 'libc malloc/free/memcpy', 'JS + V8 runtime', 'JIT compiling', 'GC', 'runtime native']


def samples(path):
    """Yields each sample's stack as [(symbol, dso), ...], leaf first."""
    out = subprocess.run(['perf', 'script', '-i', path, '-F', 'ip,sym,dso'], capture_output=True, text=True, check=True).stdout
    stack = []
    for line in out.split('\n'):
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        match = re.match(r'\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$', line)
        if match:
            stack.append((match.group(1), match.group(2)))
    if stack:
        yield stack


def bucket(stack):
    leaf_sym, leaf_dso = stack[0]
    near = stack[:3]
    syms = ' '.join(s for s, _ in stack[:12])
    if 'kernel' in leaf_dso:
        return 'kernel'
    if re.search(r'Heap::|Scavenge|MarkCompact|GCTracer|Sweeper|ConcurrentMarking|MinorMarkSweep', syms):
        return 'GC'
    if any('ffi-rs' in d or 'koffi' in d or 'libffi' in d or s.startswith('ffi_call') for s, d in stack) or any(s.startswith('napi_') for s, _ in near):
        return 'FFI marshalling'  # the FFI addon's .node (ffi-rs or koffi), N-API, libffi and their allocations
    if re.search(r'compiler::|maglev::|Compiler::|baseline::', syms):
        return 'JIT compiling'
    if 'libc' in leaf_dso:
        return 'libc malloc/free/memcpy'
    if 'JIT' in leaf_dso or leaf_sym.startswith(('JS:', 'Builtins_', 'Runtime_')) or 'v8::' in leaf_sym:
        return 'JS + V8 runtime'
    return 'runtime native'  # node C++ and libuv; for uvloop, CPython and uvloop


def main(paths):
    print('| profile | samples | ' + ' | '.join(COLUMNS) + ' |')
    print('|' + '---|' * (len(COLUMNS) + 2))
    for path in paths:
        counts = collections.Counter(bucket(s) for s in samples(path))
        n = sum(counts.values()) or 1
        print(f'| {path} | {n} | ' + ' | '.join(f'{100 * counts[c] / n:.0f} %' for c in COLUMNS) + ' |')


if __name__ == '__main__':
    main(sys.argv[1:])
