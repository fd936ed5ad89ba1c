#!/bin/sh
# Builds the fuzz targets with libFuzzer instrumentation on the STABLE toolchain and runs
# one of them. See docs/FUZZING.md.
#
#   fuzz/run.sh build                 # instrumented build of every target
#   fuzz/run.sh <target> [seconds] [extra libFuzzer flags...]
#
# Targets: decode, node, keyring_open. New corpus entries go to fuzz/target/corpus/<target>
# (not committed); the seeds in fuzz/corpus/<target> are read only; crashes are written to
# fuzz/artifacts/<target>/.
set -eu
cd "$(dirname "$0")"
TRIPLE=${TRIPLE:-x86_64-unknown-linux-gnu}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"

build() {
    # `--target` keeps the flags off build scripts and proc macros. `gen_corpus` is not
    # built here: it does not link libFuzzer (build it without these flags).
    cargo build --locked --release --target "$TRIPLE" --bin decode --bin node --bin keyring_open
}

case "${1:-}" in
build)
    build
    ;;
decode | node | keyring_open)
    target=$1
    seconds=${2:-300}
    shift
    [ $# -gt 0 ] && shift
    build
    max_len=1500
    mkdir -p "target/corpus/$target" "artifacts/$target"
    exec "target/$TRIPLE/release/$target" \
        -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" \
        "$@" "target/corpus/$target" "corpus/$target"
    ;;
*)
    echo "usage: $0 build | $0 {decode|node|keyring_open} [seconds] [libFuzzer flags...]" >&2
    exit 2
    ;;
esac
