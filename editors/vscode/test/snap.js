#!/usr/bin/env node
// Snapshot test of the TextMate grammar on every .net file of the repository's nets/ folder.
//
//   node test/snap.js            compare each nets/**/*.net with test/snapshots/<same path>.snap
//   node test/snap.js --update   rewrite the snapshots (review the diff before committing)
//
// vscode-tmgrammar-snap keeps a file's snapshot beside it; nets/ is not this folder's, so the
// files are copied with their snapshots into a temporary folder and checked there. A file of
// nets/ without a snapshot, or a snapshot without its file, fails the check: a new or changed
// network file needs a deliberate `npm run snap:update`.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const HERE = path.resolve(__dirname, '..');
const NETS = path.resolve(HERE, '..', '..', 'nets');
const SNAPS = path.join(__dirname, 'snapshots');
const GRAMMAR = path.join(HERE, 'syntaxes', 'netc.tmLanguage.json');
const TOOL = path.join(HERE, 'node_modules', 'vscode-tmgrammar-test', 'dist', 'snapshot.js');

function files(dir, ext) {
  // Relative paths of the files under `dir` ending in `ext`, sorted.
  if (!fs.existsSync(dir)) return [];
  const out = [];
  const walk = (sub) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.isFile() && entry.name.endsWith(ext)) out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

function main() {
  const update = process.argv.includes('--update');
  const nets = files(NETS, '.net');
  if (nets.length === 0) {
    console.error(`snap: no .net files under ${NETS}`);
    return 1;
  }
  const snaps = new Set(files(SNAPS, '.net.snap'));
  const missing = nets.filter((rel) => !snaps.has(rel + '.snap'));
  const stale = [...snaps].filter((rel) => !nets.includes(rel.slice(0, -'.snap'.length)));
  if (!update && (missing.length || stale.length)) {
    for (const rel of missing) console.error(`snap: no snapshot for nets/${rel}`);
    for (const rel of stale) console.error(`snap: test/snapshots/${rel} has no nets/ file`);
    console.error('snap: run `npm run snap:update` and review the new snapshots');
    return 1;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netc-snap-'));
  try {
    for (const rel of nets) {
      copy(path.join(NETS, rel), path.join(tmp, rel));
      if (!update && snaps.has(rel + '.snap')) copy(path.join(SNAPS, rel + '.snap'), path.join(tmp, rel + '.snap'));
    }
    const args = [TOOL, '-g', GRAMMAR, '--config', path.join(HERE, 'package.json')];
    if (update) args.push('--updateSnapshot');
    args.push(path.join(tmp, '**', '*.net').split(path.sep).join('/'));
    const run = spawnSync(process.execPath, args, { cwd: tmp, encoding: 'utf8' });
    // The tool names the temporary copies; name the real files instead.
    const shown = (text) => (text || '').split(tmp + path.sep).join('nets' + path.sep);
    process.stdout.write(shown(run.stdout));
    process.stderr.write(shown(run.stderr));
    if (run.status !== 0) {
      if (!update) console.error('snap: if the change is intended (a nets/ file or the grammar changed), run `npm run snap:update` in editors/vscode and review the diff');
      return run.status === null ? 1 : run.status;
    }
    // Text netc accepts never tokenizes as invalid (a stray bracket is the grammar's only such scope).
    const invalid = nets.filter((rel) => fs.readFileSync(path.join(tmp, rel + '.snap'), 'utf8').includes(' invalid.'));
    for (const rel of invalid) console.error(`snap: nets/${rel} has tokens scoped invalid.*`);
    if (invalid.length) return 1;
    if (update) {
      fs.rmSync(SNAPS, { recursive: true, force: true });
      for (const rel of nets) copy(path.join(tmp, rel + '.snap'), path.join(SNAPS, rel + '.snap'));
      console.log(`snap: wrote ${nets.length} snapshots to test/snapshots/`);
    } else {
      console.log(`snap: ${nets.length} files of nets/ match their snapshots`);
    }
    return 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

process.exitCode = main();
