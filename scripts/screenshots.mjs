#!/usr/bin/env node
// `npm run screenshots`: runs the browser tests (which write build/screenshots/*.png, never tracked files),
// then copies into docs/images/ each screenshot that README.md or docs/*.md shows. Needs /usr/bin/chromium.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHOTS = join(ROOT, 'build', 'screenshots');
const IMAGES = join(ROOT, 'docs', 'images');

if (!existsSync('/usr/bin/chromium')) {
  console.error('npm run screenshots needs Chromium at /usr/bin/chromium (Debian: apt-get install chromium).');
  process.exit(1);
}

// The viewer's pages (every browser test), and the alert mail rendered from its HTML part.
const TESTS = ['test/viewer/browser', 'test/notify/mail.test.ts'];
const jest = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), ...TESTS], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (jest.status !== 0) process.exit(jest.status ?? 1);

/** The names of images the docs show from docs/images/. */
function shownImages() {
  const docs = [
    join(ROOT, 'README.md'),
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join(ROOT, 'docs', f)),
  ];
  const names = new Set();
  for (const doc of docs) for (const m of readFileSync(doc, 'utf8').matchAll(/images\/([\w.-]+\.png)/g)) names.add(m[1]);
  return names;
}

const shown = shownImages();
const copied = [];
for (const name of existsSync(SHOTS) ? readdirSync(SHOTS) : []) {
  if (!shown.has(name)) continue;
  copyFileSync(join(SHOTS, name), join(IMAGES, name));
  copied.push(name);
}
const missing = [...shown].filter((name) => !copied.includes(name));
console.log(`Copied ${copied.length ? copied.join(', ') : 'nothing'} to docs/images/.`);
if (missing.length > 0) {
  console.error(`The docs show ${missing.join(', ')}, which the browser tests did not make.`);
  process.exit(1);
}
