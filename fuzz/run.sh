#!/usr/bin/env bash
# Fuzzes the parsers with cargo fuzz (libFuzzer), each target for SECONDS (default 60):
#   fuzz/run.sh          # a minute per target
#   fuzz/run.sh 600      # ten minutes per target
# The corpus is seeded from the simulator's answers (crates/simulator/examples/fuzz_corpus.rs). The machine's
# stable toolchain builds the sanitizer-instrumented targets with RUSTC_BOOTSTRAP=1.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo run --quiet -p tencentcloud-ssl-simulator --example fuzz_corpus -- fuzz/corpus
for target in api_responses config_files text_fields; do
  echo "== fuzzing $target for ${seconds}s"
  cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|thread)" || true
  # A crash leaves an artifact and a non-zero exit above; fail loudly here too.
  if ls "fuzz/artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "crash found in $target: fuzz/artifacts/$target" >&2
    exit 1
  fi
done
