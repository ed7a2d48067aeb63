#!/usr/bin/env node
// Builds the package: compiles src/ to dist/ (ESM JavaScript, .d.ts, declaration and source maps) and copies the
// files that are not TypeScript (the dashboard's script and style sheet) beside the code that reads them.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

let copied = 0;
(function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) copyAssets(file);
    else if (!/\.(m|c)?ts$/.test(name)) {
      cpSync(file, path.join(dist, path.relative(src, file)));
      copied++;
    }
  }
})(src);
console.log(`build: dist/ written (${copied} asset file${copied === 1 ? '' : 's'} copied)`);
