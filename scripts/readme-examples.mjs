#!/usr/bin/env node
// Rewrites every code block marked `<!-- example: PATH -->` in README.md and
// docs/*.md with the current text of PATH (without its opening doc
// comment), so the pages show the examples exactly as the suite runs them.
// spec/examples.spec.ts fails when the two drift apart; run
// `npm run readme:examples` to fix that.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

const shown = (path) => readFileSync(path, 'utf8').replace(/^\/\*\*[\s\S]*?\*\/\n/, '').trim();
const pages = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
for (const page of pages) {
  const text = readFileSync(page, 'utf8');
  let count = 0;
  const updated = text.replace(/<!-- example: (\S+) -->\n```(ts|js)\n(?:[\s\S]*?\n)?```(?=\n|$)/g, (_, path, lang) => {
    count++;
    return `<!-- example: ${path} -->\n\`\`\`${lang}\n${shown(path)}\n\`\`\``;
  });
  if (updated !== text) writeFileSync(page, updated);
  if (count) console.log(`${page}: ${count} example blocks written from their files`);
}
