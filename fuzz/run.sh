#!/usr/bin/env bash
# Runs every fuzz target for a fixed time with the repository's seeds and the rules
# dictionary, and prints executions and crashes per target.
#   fuzz/run.sh [SECONDS_PER_TARGET]   (default 900)
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer's instrumentation uses
# unstable compiler flags; RUSTC_BOOTSTRAP lets the machine's one (stable)
# toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-900}"
for t in rules manifest request onnx log; do
  mkdir -p "corpus/$t" "artifacts/$t"
  cargo run -q --manifest-path ../crates/talktrack-fuzz/Cargo.toml --example seed -- "$t" "corpus/$t"
done
# Only the instrumented build sees RUSTC_BOOTSTRAP: build scripts that probe the
# compiler (anyhow's) would otherwise cache nightly-only settings in the
# workspace's own target directory.
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none --release
for t in rules manifest request onnx log; do
  dict=()
  [ "$t" = rules ] && dict=(-dict=../crates/talktrack-fuzz/dict/rules.dict)
  log="artifacts/$t/run.log"
  set +e
  cargo fuzz run -s none --release "$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=1 -rss_limit_mb=2048 -max_len=1048576 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  crashes=$(find "artifacts/$t" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)
  echo "$t: ${execs:-?} executions in ${secs}s, $crashes crash(es), exit $rc"
done
