/**
 * The floor check: reads the import lines of every .ts file of the library
 * and reports each place where the dependency order is broken.
 *
 * The floors, lowest first (a file may import its own floor and those below):
 *   0 reactor/sys   the syscall layer, `Socket`, getaddrinfo, argument checks
 *   1 reactor       the rest of it: pollers, the loop, futures, executors
 *   2 ssl
 *   3 streams
 *   4 resolvers
 *   5 net
 *   6 index.ts      the package's face, which gathers the folders' faces
 * `spec/` and `scripts/` may import anything.
 *
 * Three rules, each a kind of finding:
 * - `floor`: a library file imports from a higher floor;
 * - `index`: a library file imports a folder's index.ts (or the package by
 *   its own name): indexes are for users, gale's modules import files;
 * - `cycle`: the graph of run-time imports of all scanned files has a cycle.
 *   Type-only imports (`import type`, or every name marked `type`) are
 *   erased by the compiler and do not count here: a class may name its
 *   subclass's type (`IOStream.startTls` returns an `SSLIOStream`). They do
 *   count for floors.
 *
 * The imports are read with a small scanner (comments removed, strings
 * kept), not the compiler: static `import`/`export … from`, side-effect
 * `import '…'` and `import('…')` with a literal specifier.
 *
 *   node dist/scripts/check-floors.js [root]   (exit 1 and one line per finding)
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One broken rule, with the file that breaks it. */
export interface Finding {
  readonly rule: 'floor' | 'index' | 'cycle';
  readonly file: string;
  readonly message: string;
}

const FLOORS: ReadonlyArray<readonly [prefix: string, floor: number]> = [
  ['reactor/sys/', 0],
  ['reactor/', 1],
  ['ssl/', 2],
  ['streams/', 3],
  ['resolvers/', 4],
  ['net/', 5],
];
const FLOOR_NAMES = ['reactor/sys', 'reactor', 'ssl', 'streams', 'resolvers', 'net', 'index.ts'];
const FREE = ['spec/', 'scripts/'];
const SCANNED = ['index.ts', 'reactor', 'ssl', 'streams', 'resolvers', 'net', 'spec', 'scripts'];

/** The floor of a repo-relative path (with `/`), or null for spec/ and scripts/. */
export function floorOf(path: string): number | null {
  if (FREE.some((p) => path.startsWith(p))) return null;
  if (path === 'index.ts') return 6;
  for (const [prefix, floor] of FLOORS) if (path.startsWith(prefix)) return floor;
  return null;
}

/** The source with comments blanked out (strings, including template text, kept). */
function withoutComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** An import of one file: its specifier, and whether only types come through it. */
export interface ImportLine {
  readonly specifier: string;
  readonly typeOnly: boolean;
}

const STATIC = /(?:^|[;\n}])\s*(import|export)\s+(type\s+)?(?:[\w*${}\s,]*?\s+from\s+)?(['"])([^'"\n]+)\3/g;
const DYNAMIC = /\bimport\(\s*(['"])([^'"\n]+)\1\s*\)/g;

/** The import lines of one source text. */
export function importsOf(text: string): ImportLine[] {
  const code = withoutComments(text);
  const found: ImportLine[] = [];
  for (const m of code.matchAll(STATIC)) {
    // `export const x = '…'` has no `from`: only a braced list, `*` or a
    // default binding may stand between the keyword and the specifier.
    if (m[1] === 'export' && !/\bfrom\s+['"]/.test(m[0])) continue;
    const names = /\{([^}]*)\}/.exec(m[0])?.[1];
    const allTypes = names !== undefined && !/^\s*import\s+\w/.test(m[0].replace(/^[;\n}]/, '')) &&
      names.split(',').map((n) => n.trim()).filter(Boolean).every((n) => n.startsWith('type '));
    found.push({ specifier: m[4]!, typeOnly: Boolean(m[2]) || allTypes });
  }
  for (const m of code.matchAll(DYNAMIC)) found.push({ specifier: m[2]!, typeOnly: false });
  return found;
}

function listTs(root: string, entry: string, into: string[]): void {
  const full = join(root, entry);
  let stat;
  try { stat = statSync(full); } catch { return; }
  if (stat.isFile()) {
    if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) into.push(entry);
    return;
  }
  for (const name of readdirSync(full).sort()) {
    if (name === 'node_modules' || name === 'dist') continue;
    listTs(root, `${entry}/${name}`, into);
  }
}

/** Every finding in the tree under `root` (a checkout of gale, or a fixture shaped like one). */
export function checkFloors(root: string): Finding[] {
  const files: string[] = [];
  for (const entry of SCANNED) listTs(root, entry, files);
  const known = new Set(files);
  const findings: Finding[] = [];
  const edges = new Map<string, string[]>();

  for (const file of files) {
    const floor = floorOf(file);
    const targets: string[] = [];
    for (const { specifier, typeOnly } of importsOf(readFileSync(join(root, file), 'utf8'))) {
      if (specifier === 'gale' || specifier.startsWith('gale/')) {
        if (floor !== null) findings.push({ rule: 'index', file, message: `imports the package '${specifier}' by name` });
        continue;
      }
      if (!specifier.startsWith('.')) continue; // node builtins and dependencies
      const target = relative(root, resolve(root, dirname(file), specifier)).split(sep).join('/').replace(/\.js$/, '.ts');
      if (!known.has(target)) continue; // a compiled-only or non-TS file: nothing to follow
      if (!typeOnly) targets.push(target);
      if (floor === null) continue;
      if (target.endsWith('/index.ts') || (target === 'index.ts' && file !== 'index.ts')) {
        if (file !== 'index.ts') findings.push({ rule: 'index', file, message: `imports the folder index ${target}` });
      }
      const targetFloor = floorOf(target);
      if (targetFloor !== null && targetFloor > floor) {
        findings.push({
          rule: 'floor', file,
          message: `imports ${target}, on a higher floor (${FLOOR_NAMES[floor]} may not import ${FLOOR_NAMES[targetFloor]})`,
        });
      }
    }
    edges.set(file, targets);
  }
  for (const cycle of cyclesOf(edges)) {
    findings.push({ rule: 'cycle', file: cycle[0]!, message: `import cycle: ${[...cycle, cycle[0]].join(' -> ')}` });
  }
  return findings;
}

/** One cycle per strongly connected component with more than one file (or a file importing itself). */
function cyclesOf(edges: Map<string, string[]>): string[][] {
  // Tarjan's algorithm, iterative so a deep graph cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const start of edges.keys()) {
    if (index.has(start)) continue;
    const work: Array<[string, number]> = [[start, 0]];
    while (work.length) {
      const frame = work[work.length - 1]!;
      const [node, at] = frame;
      if (at === 0) {
        index.set(node, counter);
        low.set(node, counter++);
        stack.push(node);
        onStack.add(node);
      }
      const next = edges.get(node) ?? [];
      if (at < next.length) {
        frame[1]++;
        const to = next[at]!;
        if (!index.has(to)) work.push([to, 0]);
        else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]![0];
        low.set(parent, Math.min(low.get(parent)!, low.get(node)!));
      }
      if (low.get(node) === index.get(node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== node);
        if (component.length > 1 || (edges.get(node) ?? []).includes(node)) components.push(component);
      }
    }
  }
  return components.map((component) => pathThrough(component, edges));
}

/** A concrete cycle inside one strongly connected component, for the message. */
function pathThrough(component: string[], edges: Map<string, string[]>): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0]!;
  const path = [start];
  const seen = new Set(path);
  for (let node = start; ;) {
    const inside = (edges.get(node) ?? []).filter((to) => members.has(to));
    if (inside.includes(start)) return path;
    const to = inside.find((t) => !seen.has(t)) ?? inside[0]!;
    if (seen.has(to)) return path.slice(path.indexOf(to));
    path.push(to);
    seen.add(to);
    node = to;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
  const findings = checkFloors(root);
  for (const f of findings) process.stdout.write(`${f.rule}: ${f.file}: ${f.message}\n`);
  process.stdout.write(findings.length ? `${findings.length} floor findings\n` : 'floors: ok\n');
  process.exitCode = findings.length ? 1 : 0;
}
