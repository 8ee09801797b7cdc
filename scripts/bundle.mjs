#!/usr/bin/env node
// Bundles tsc's per-file dist/ into what the package's users load:
// dist/bundle/, one ESM file per public entry point (package.json
// "exports") plus the worker-side entries, with code splitting, so that a
// module reached from several entries lives in exactly one shared chunk
// (importing both `gale` and `gale/reactor` gives one IOLoop class, one
// current-loop state, one FFI layer).
//
// Why: each ESM module costs Node ~100 KiB of resident memory and its
// resolver work at start-up; an idle server importing the 85 per-file
// modules holds ~15 MiB more than node:net's (docs/benchmarks-history.md, "Memory:
// where an idle gale server's resident set goes"; docs/using.md, "What the
// package loads").
//
// The input is tsc's output (`npm run build` runs tsc first), so the bundle
// is the very code the suite runs per file, only joined. Packages
// (koffi, ...) stay external: their native addons load as before.
//
// Worker threads: gale starts workers from a file URL relative to its own
// module (`new URL('./executor-worker.js', import.meta.url)`), and names
// task modules the same way. Every output lands in one flat folder, and each
// such file is an entry of the same name, so the relative URL finds it from
// whichever chunk the code ended up in; this script fails the build if a
// bundled file names one that is not there.
//
// usage: node scripts/bundle.mjs        (after tsc; writes dist/bundle/)
import { build, transform } from 'esbuild';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The paths below, and the metafile's, are relative to the repository.
const repo = fileURLToPath(new URL('..', import.meta.url));
process.chdir(repo);
const dist = 'dist';
const out = join(dist, 'bundle');

/** The public entry points (package.json "exports") → tsc's file. */
const publicEntries = {
  index: `${dist}/index.js`,
  reactor: `${dist}/reactor/index.js`,
  streams: `${dist}/streams/index.js`,
  net: `${dist}/net/index.js`,
  resolvers: `${dist}/resolvers/index.js`,
  ssl: `${dist}/ssl/index.js`,
};
/**
 * What esbuild bundles, each into a file of the same name: the root, the
 * reactor alone (an application may use the loop without streams, TLS or
 * processes), and the files a worker thread loads by URL (see the header).
 */
const bundled = {
  index: publicEntries.index,
  reactor: publicEntries.reactor,
  'executor-worker': `${dist}/reactor/executor-worker.js`,
  'resolve-task': `${dist}/resolvers/resolve-task.js`,
};
/**
 * The other subpaths re-export their names from the root's file rather than
 * being entries of their own: every entry splits the chunks further, and the
 * number of files (and imports between them) is what costs. With all six
 * public entries esbuild made 16 files for `import 'gale'`, whose ~70
 * imports made Node's resolver hot enough to be optimised (TurboFan's code
 * paged in: +3.5 MiB idle); with these four, 6 files, within 0.3 MiB of one
 * single file. These subpaths load the whole library; `gale/net` reaches
 * nearly all of it anyway.
 */
const reexported = ['streams', 'net', 'resolvers', 'ssl'];

/**
 * esbuild's `keepNames` helper, which names a function after its source
 * name in case bundling renamed it, but leaves it alone when it already
 * bears that name: an own `name` redefined with the same value and the same
 * attributes changes nothing, except that V8 then keeps the function's
 * properties in a dictionary (a hash table per function or class: ~350 of
 * the ~380 named at import are named right already).
 */
const NAME_HELPER = 'var __name = (target, value) => __defProp(target, "name", { value, configurable: true });';
const NAME_IF_RENAMED = 'var __name = (target, value) => target.name === value ? target : __defProp(target, "name", { value, configurable: true });';

function namingOnlyRenamed(file, text) {
  if (!text.includes('__name(')) return text;
  if (text.includes(NAME_HELPER)) return text.replace(NAME_HELPER, NAME_IF_RENAMED);
  if (/^var __name\b/m.test(text)) throw new Error(`bundle.mjs: ${file}: esbuild's __name helper changed; update NAME_HELPER`);
  return text; // the helper is imported from the chunk that defines it
}

/**
 * The file's text without the comments esbuild carries over from tsc's
 * output (the TSDoc of class members, section rules), and in ASCII only.
 *
 * Why: Node keeps every module's source text in V8's heap for as long as the
 * module lives (functions compile lazily from it), and one non-ASCII
 * character — an em dash in a comment — makes V8 store the whole text as
 * UTF-16, two bytes a character. The two large files of `import 'gale'` held
 * 772 KB that way; ASCII and without comments, 297 KB. The documentation
 * stays where readers get it: the sources and the `.d.ts` files.
 *
 * Only whole-line comments go (a line that starts one, through the line that
 * ends it; the `// dist/…` lines naming each bundled module stay, to find
 * one's code), and what non-ASCII is left is escaped as `\uXXXX`, which
 * means the same character in a string, a template or a regular expression,
 * and nothing in a comment. Then the proof: esbuild must minify the result
 * and the original to the same code, or the build fails.
 */
async function withoutComments(file, text) {
  const kept = [];
  let inBlock = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trimStart();
    if (inBlock) {
      if (trimmed.includes('*/')) inBlock = false;
      if (!inBlock && !trimmed.endsWith('*/')) throw new Error(`bundle.mjs: ${file}: code after a comment on one line: ${line}`);
      continue;
    }
    if (trimmed.startsWith('/*') && !trimmed.startsWith('/*#') && !trimmed.startsWith('/* @__PURE__')) {
      const end = trimmed.indexOf('*/', 2);
      if (end === -1) { inBlock = true; continue; }
      if (end === trimmed.length - 2) continue;
    }
    if (trimmed.startsWith('//') && !trimmed.startsWith('// dist/')) continue;
    kept.push(line);
  }
  const stripped = kept.join('\n').replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const minified = async (code) => (await transform(code, { minifyWhitespace: true, format: 'esm', charset: 'ascii' })).code;
  if (await minified(stripped) !== await minified(text)) throw new Error(`bundle.mjs: ${file}: removing its comments changed its code`);
  return stripped;
}

/**
 * Node's built-ins, and koffi, reached through `require` instead of an ESM
 * import.
 *
 * Why: an ESM import of a built-in makes Node build the module's ESM face,
 * which reads every one of its exports once, and reading a lazy export loads
 * what is behind it. `import process from 'node:process'` reads
 * `process.stdin`, `process.report`, ... (about 20 more built-ins load:
 * readline, fs/promises, fs watchers, the report module, and the stdin
 * stream gets made); `import { inspect } from 'node:util'` reads
 * `util.parseArgs` and `util.MIMEType` (3 more). koffi's ESM entry imports
 * `node:util` that way; its CommonJS entry (the same native module)
 * requires it. `require` builds no ESM face.
 *
 * How: each such specifier resolves to a small ES module of the bundle's
 * own that requires the real one (through one `createRequire`: the one ESM
 * import of a built-in left is `node:module`, whose face reads nothing lazy)
 * and exports the names gale imports from it, each read once at load, as
 * Node's face would (a name this Node lacks fails the load, as a link error
 * would); the default export is what `require` returns, which for a
 * built-in is what Node's face gives as default. The per-file modules in
 * dist/ (what the suite runs) keep their ESM imports.
 */
const BY_REQUIRE = 'by-require';
const REQUIRE_PROVIDER = 'gale-require';
const requiredSpecifier = /^(node:.*|koffi)$/;

/** The names gale's modules import from each such specifier, read from tsc's output. */
function importedNames() {
  const names = new Map();
  const files = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith('.js') && !/^(spec|scripts|bundle)\//.test(f));
  for (const file of files) {
    const text = readFileSync(join(dist, file), 'utf8');
    for (const [, specifier] of text.matchAll(/^import\s*['"]([^'"]+)['"]/gm)) {
      if (requiredSpecifier.test(specifier)) throw new Error(`bundle.mjs: dist/${file}: an import of ${specifier} for its effects only: this script cannot rewrite it`);
    }
    for (const [statement, clause, specifier] of text.matchAll(/^(?:import|export)\s+([\w$*\s,]*(?:\{[^}]*\})?)\s*from\s*['"]([^'"]+)['"]/gm)) {
      if (!requiredSpecifier.test(specifier)) continue;
      const match = /^(?:(\w+)\s*,?\s*)?(?:\{([^}]*)\})?$/.exec(statement.startsWith('import') ? clause.trim() : '!');
      if (!match || (!match[1] && !match[2])) throw new Error(`bundle.mjs: dist/${file}: an import of ${specifier} this script cannot rewrite: ${statement}`);
      const set = names.get(specifier) ?? new Set();
      for (const part of (match[2] ?? '').split(',').map((p) => p.trim()).filter(Boolean)) set.add(part.split(/\s+as\s+/)[0]);
      names.set(specifier, set);
    }
  }
  return names;
}

const requiredNotImported = {
  name: 'required-not-imported',
  setup(build) {
    const names = importedNames();
    build.onResolve({ filter: requiredSpecifier }, (args) => args.importer === REQUIRE_PROVIDER
      ? { path: args.path, external: true }
      : { path: args.path, namespace: BY_REQUIRE });
    build.onResolve({ filter: new RegExp(`^${REQUIRE_PROVIDER}$`) }, () => ({ path: REQUIRE_PROVIDER, namespace: BY_REQUIRE }));
    build.onLoad({ filter: /.*/, namespace: BY_REQUIRE }, (args) => {
      if (args.path === REQUIRE_PROVIDER) {
        return { loader: 'js', contents: "import { createRequire } from 'node:module';\nexport const requireOutside = createRequire(import.meta.url);\n" };
      }
      const exported = [...(names.get(args.path) ?? [])].sort();
      const lines = [
        `import { requireOutside } from '${REQUIRE_PROVIDER}';`,
        `const required = requireOutside(${JSON.stringify(args.path)});`,
        `for (const name of ${JSON.stringify(exported)}) {`,
        `  if (!(name in required)) throw new SyntaxError(\`The requested module '${args.path}' does not provide an export named '\${name}'\`);`,
        '}',
        'export default required;',
        ...exported.map((name) => `export const ${name} = required.${name};`),
      ];
      return { loader: 'js', contents: lines.join('\n') + '\n' };
    });
  },
};

const common = {
  absWorkingDir: repo,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  plugins: [requiredNotImported],
  // Class and function names are observable (`error.name`, the
  // `constructor.name` in reprs); joining modules into one scope must not
  // rename them.
  keepNames: true,
  metafile: true,
  logLevel: 'warning',
};

// Pass 1, in memory: each public entry's export names.
const names = await build({ ...common, entryPoints: publicEntries, outdir: out, entryNames: '[name]', splitting: true, write: false });
const exportsOf = (name) => names.metafile.outputs[`${out}/${name}.js`].exports;

rmSync(out, { recursive: true, force: true });
const result = await build({ ...common, entryPoints: bundled, outdir: out, entryNames: '[name]', chunkNames: 'chunk-[hash]', splitting: true });

const rootExports = new Set(exportsOf('index'));
for (const name of reexported) {
  const exported = exportsOf(name);
  const absent = exported.filter((e) => !rootExports.has(e));
  if (absent.length) {
    process.stderr.write(`bundle.mjs: gale/${name} exports what the root does not: ${absent.join(', ')}\n`);
    process.exit(1);
  }
  const file = `${out}/${name}.js`;
  writeFileSync(file, `// gale/${name}: its names, from the root's bundle (scripts/bundle.mjs).\nexport {\n${exported.map((e) => `  ${e},\n`).join('')}} from './index.js';\n`);
  result.metafile.outputs[file] = {
    imports: [{ path: `${out}/index.js`, kind: 'import-statement' }], exports: exported, entryPoint: publicEntries[name], inputs: {}, bytes: 0,
  };
}

for (const file of Object.keys(result.metafile.outputs)) writeFileSync(file, namingOnlyRenamed(file, await withoutComments(file, readFileSync(file, 'utf8'))));

// The module → file map, for spec/package-modules.spec.ts and the bench (not shipped: package.json "files").
writeFileSync(join(out, 'metafile.json'), JSON.stringify(result.metafile, null, 1) + '\n');

// Every `new URL('./x.js', import.meta.url)` (or '../…') left in the bundle
// must name a file that is there, seen from the bundled file: the path was
// written relative to a per-file module in another folder. (Other ways of
// naming a file relative to a module — import.meta.dirname, a relative
// require() — are not looked for; gale has none.)
const missing = [];
for (const file of Object.keys(result.metafile.outputs)) {
  const text = readFileSync(file, 'utf8');
  for (const [, target] of text.matchAll(/new URL\(\s*["'](\.\.?\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g)) {
    if (!existsSync(join(dirname(file), target))) missing.push(`${file}: ${target}`);
  }
}
if (missing.length) {
  process.stderr.write(`bundle.mjs: files named relative to a bundled module are not where the bundle looks (make them bundled entries):\n  ${missing.join('\n  ')}\n`);
  process.exit(1);
}
