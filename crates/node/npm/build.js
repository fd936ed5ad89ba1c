#!/usr/bin/env node
// Builds the native addon from the Rust workspace this package sits in and copies it next
// to index.js as leviathan-gossip.node. `npm install` and `npm run build` run it.
//
//   LEVIATHAN_GOSSIP_BUILD=debug   a debug build (faster to compile); default: release
//   CARGO_TARGET_DIR               honoured, as cargo does (default: the workspace's target/)
//   CARGO                          the cargo to run (default: cargo on PATH)
//   LEVIATHAN_GOSSIP_LOCKED=1      pass --locked to cargo (CI: Cargo.lock must be up to date)
//
// Outside the workspace (a tarball made by `npm pack`), an addon already in the package
// is used as it is.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const packageDir = __dirname;
const workspace = path.resolve(packageDir, '..', '..', '..');
const crateManifest = path.join(workspace, 'crates', 'node', 'Cargo.toml');
const addon = path.join(packageDir, 'leviathan-gossip.node');

function main() {
  if (!fs.existsSync(crateManifest)) {
    if (fs.existsSync(addon)) {
      console.log(`leviathan-gossip: using the prebuilt ${path.basename(addon)}`);
      return;
    }
    fail(
      'not inside the leviathan-gossip Rust workspace and no prebuilt addon in the package: ' +
        'build from a checkout (cd crates/node/npm && npm install)',
    );
  }
  const profile = process.env.LEVIATHAN_GOSSIP_BUILD === 'debug' ? 'debug' : 'release';
  const cargo = process.env.CARGO || 'cargo';
  const args = ['build', '-p', 'leviathan-gossip-node'];
  if (profile === 'release') args.push('--release');
  if (process.env.LEVIATHAN_GOSSIP_LOCKED === '1') args.push('--locked');
  console.log(`leviathan-gossip: ${cargo} ${args.join(' ')}`);
  try {
    execFileSync(cargo, args, { cwd: workspace, stdio: 'inherit' });
  } catch (error) {
    fail(`${cargo} failed (${error.message}); the Rust toolchain (rustup.rs) is required`);
  }
  const built = path.join(targetDir(cargo), profile, libraryName());
  if (!fs.existsSync(built)) fail(`cargo reported success but ${built} is missing`);
  // Copy, then rename: a process that has the old addon loaded keeps its mapping intact.
  const staging = `${addon}.${process.pid}.tmp`;
  fs.copyFileSync(built, staging);
  fs.renameSync(staging, addon);
  console.log(`leviathan-gossip: ${path.relative(process.cwd(), addon) || addon} (${profile})`);
}

/// Where cargo puts its output: CARGO_TARGET_DIR, a cargo config's target-dir, or target/.
function targetDir(cargo) {
  const metadata = execFileSync(cargo, ['metadata', '--format-version', '1', '--no-deps'], {
    cwd: workspace,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(metadata).target_directory;
}

function libraryName() {
  switch (process.platform) {
    case 'darwin':
      return 'libleviathan_gossip_node.dylib';
    case 'win32':
      return 'leviathan_gossip_node.dll';
    default:
      return 'libleviathan_gossip_node.so';
  }
}

function fail(message) {
  console.error(`leviathan-gossip: ${message}`);
  process.exit(1);
}

main();
