// Run in the build of an npx:// image: `node npm-entrypoint.js PREFIX PACKAGE` links PREFIX/thv-entrypoint to
// the command npx would run for PACKAGE (installed with `npm install --global --prefix PREFIX`): its only
// command, or else the command named after the package without its scope.
'use strict';
const fs = require('fs');
const path = require('path');

const [prefix, pkg] = process.argv.slice(2);
const fail = (msg) => {
  console.error(`thv: ${msg}`);
  process.exit(1);
};
if (!prefix || !pkg) fail('usage: npm-entrypoint.js PREFIX PACKAGE');

const unscoped = (name) => (name.startsWith('@') ? name.split('/')[1] || name : name);
const manifestPath = path.join(prefix, 'lib', 'node_modules', pkg, 'package.json');
let manifest;
try {
  manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
} catch (e) {
  fail(`cannot read ${manifestPath}: ${e.message}`);
}
let bins = manifest.bin;
if (typeof bins === 'string') bins = { [unscoped(manifest.name || pkg)]: bins };
const names = Object.keys(bins || {});
const name = names.length === 1 ? names[0] : names.find((n) => n === unscoped(pkg));
if (!name) {
  fail(
    names.length === 0
      ? `${pkg} has no command (no "bin" in its package.json)`
      : `${pkg} has several commands (${names.join(', ')}) and none is named ${unscoped(pkg)}`,
  );
}
const target = path.join('bin', name);
if (!fs.existsSync(path.join(prefix, target))) fail(`${path.join(prefix, target)} was not installed`);
fs.symlinkSync(target, path.join(prefix, 'thv-entrypoint'));
console.log(`thv: the entrypoint is ${name}`);
