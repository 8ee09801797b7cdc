// Per-folder line coverage from c8's json-summary, so the README's targets
// (reactor/, net/, streams/, resolvers/ >= 90 %) can be read at a glance.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

export function summarize(file) {
  if (!existsSync(file)) return;
  const summary = JSON.parse(readFileSync(file, 'utf8'));
  const folders = new Map();
  for (const [path, data] of Object.entries(summary)) {
    if (path === 'total') continue;
    const rel = relative(process.cwd(), path).replace(/^dist\//, '');
    const folder = rel.includes('/') ? rel.split('/')[0] : '(root)';
    const f = folders.get(folder) ?? { covered: 0, total: 0 };
    f.covered += data.lines.covered;
    f.total += data.lines.total;
    folders.set(folder, f);
  }
  const rows = [...folders].sort().map(([name, f]) => `${name.padEnd(10)} ${(f.total ? (100 * f.covered) / f.total : 100).toFixed(1).padStart(5)} % lines`);
  process.stdout.write(`line coverage by folder:\n  ${rows.join('\n  ')}\n`);
}
