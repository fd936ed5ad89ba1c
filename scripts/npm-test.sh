#!/usr/bin/env bash
# Tests the npm package `leviathan-gossip` (crates/node/npm, README.md there): builds its
# native addon (debug, to save time) with `npm install` (which runs build.js) and the Rust
# agent its mixed-cluster test runs, then `node --test` in the package directory, then
# checks what `npm pack` would put in the tarball (nothing is packed or published).
#
# Needs Node.js 18 or later. Without `node`, as root with apt-get it installs Debian's
# nodejs and npm; otherwise it prints "SKIP npm package tests: …" and exits 0.
# Honours CARGO_TARGET_DIR. All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
package=crates/node/npm

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's nodejs and npm"
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null ||
            echo "apt-get could not install nodejs/npm"
    fi
fi
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP npm package tests: node is not installed (and this is not root with apt-get)"
    exit 0
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "SKIP npm package tests: node $(node --version) is older than 18 (node --test)"
    exit 0
fi
echo "node $(node --version), npm $(npm --version 2>/dev/null || echo missing)"

cargo build --locked -p leviathan-gossip-agent
export LEVIATHAN_GOSSIP_BUILD=debug LEVIATHAN_GOSSIP_LOCKED=1
if command -v npm >/dev/null 2>&1; then
    # The package's own install script builds the addon (build.js); no dependencies.
    (cd "$package" && npm install --no-package-lock --no-audit --no-fund)
else
    (cd "$package" && node build.js)
fi

(cd "$package" && node --test)

if command -v npm >/dev/null 2>&1; then
    # What the tarball would hold; scripts are not run (a real `npm pack` follows
    # `npm run build`, a release build, so that the tarball carries the addon).
    (cd "$package" && npm pack --dry-run --json --ignore-scripts 2>/dev/null) | node -e '
        const [pack] = JSON.parse(require("fs").readFileSync(0, "utf8"));
        const files = pack.files.map((f) => f.path);
        const needed = ["package.json", "index.js", "index.d.ts", "build.js", "README.md",
            "leviathan-gossip.node", "examples/peer_1.js", "examples/peer_4.js"];
        const missing = needed.filter((f) => !files.includes(f));
        if (missing.length) { console.error("npm pack would miss: " + missing); process.exit(1); }
        const tests = files.filter((f) => f.startsWith("test"));
        if (tests.length) { console.error("npm pack would ship tests: " + tests); process.exit(1); }
        console.log(`npm pack: ${pack.filename}, ${files.length} files, ${pack.size} bytes packed`);
    '
else
    echo "SKIP npm pack check: npm is not installed"
fi
