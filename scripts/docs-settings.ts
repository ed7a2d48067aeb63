/**
 * `npm run docs:settings`: rewrite the README's "Configuration" table from the settings table in src/config.ts
 * (test/cli/config-flags.test.ts fails when the README and the table differ).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withSettingsTable } from '../src/cli/config-flags.js';

const readmePath = path.join(import.meta.dirname, '..', 'README.md');
const before = readFileSync(readmePath, 'utf8');
const after = withSettingsTable(before);
if (after === before) {
  console.log('README.md: the settings table is up to date');
} else {
  writeFileSync(readmePath, after);
  console.log('README.md: the settings table was rewritten from src/config.ts');
}
