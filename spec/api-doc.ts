/**
 * Reads the names docs/API.md declares: the classes, functions and
 * constants at the top level of each `ts` block, with the section they
 * belong to and whether they are marked `// planned: issue N` (on their
 * line, or for the whole block on its first line). Types and interfaces
 * are skipped: they do not exist at run time.
 */

/** One name the API page declares. */
export interface ApiName {
  /** The `## heading` the block sits under: the package subpath. */
  section: string;
  name: string;
  planned: boolean;
}

const PLANNED = /\/\/\s*planned:/;

/** The value names a top-level declaration line declares (none for other lines). */
function declared(line: string): string[] {
  const code = line.replace(/\/\/.*$/, '');
  if (/^(?:abstract\s+)?class\s/.test(code)) return [...code.matchAll(/\bclass\s+(\w+)/g)].map((m) => m[1]!);
  const fn = /^function\s+(\w+)/.exec(code);
  if (fn) return [fn[1]!];
  // `const a = 1, b = 2;` or `const a: T, b: T;`
  if (code.startsWith('const ')) return [...code.matchAll(/(?:\bconst\s+|,\s*)(\w+)\s*[:=]/g)].map((m) => m[1]!);
  return [];
}

/** Every value name declared in the page's `ts` blocks, in page order. */
export function apiNames(markdown: string): ApiName[] {
  const names: ApiName[] = [];
  let section = '';
  let inBlock = false;
  let blockPlanned = false;
  let firstLine = false;
  for (const line of markdown.split('\n')) {
    const heading = /^## (\w+)\s*$/.exec(line);
    if (heading) section = heading[1]!;
    if (line.startsWith('```')) {
      inBlock = !inBlock && line.startsWith('```ts');
      blockPlanned = false;
      firstLine = inBlock;
      continue;
    }
    if (!inBlock) continue;
    if (firstLine) {
      firstLine = false;
      if (/^\/\/\s*planned:/.test(line)) { blockPlanned = true; continue; }
    }
    // Only column-0 lines are top level: members and continuations are indented.
    for (const name of declared(line)) names.push({ section, name, planned: blockPlanned || PLANNED.test(line) });
  }
  return names;
}
