#!/usr/bin/env node
// Rewrites every README code block marked `<!-- example: PATH -->` with the
// current text of PATH (without its opening doc comment), so the README
// shows the examples exactly as the suite runs them. spec/examples.spec.ts
// fails when the two drift apart; run `npm run readme:examples` to fix that.
import { readFileSync, writeFileSync } from 'node:fs';

const shown = (path) => readFileSync(path, 'utf8').replace(/^\/\*\*[\s\S]*?\*\/\n/, '').trim();
const readme = readFileSync('README.md', 'utf8');
let count = 0;
const updated = readme.replace(/<!-- example: (\S+) -->\n```(ts|js)\n[\s\S]*?```/g, (_, path, lang) => {
  count++;
  return `<!-- example: ${path} -->\n\`\`\`${lang}\n${shown(path)}\n\`\`\``;
});
writeFileSync('README.md', updated);
console.log(`README.md: ${count} example blocks written from their files`);
