#!/usr/bin/env bash
# Runs the fuzz targets (cargo fuzz, nightly, AddressSanitizer + debug assertions): each
# until 1,000,000 executions or 600 s, whichever comes first, from the committed seeds
# (fuzz/seeds/) plus a scratch corpus (fuzz/corpus/, not committed).
#   scripts/fuzz.sh [target...]          the full budget (all targets: ~10-60 min)
#   scripts/fuzz.sh --smoke [target...]  20 s per target (CI, via scripts/test.sh)
# Any crash fails the run and leaves its input in fuzz/artifacts/<target>/. Once fixed,
# copy it to fuzz/regressions/<target>/: tests/fuzz_regressions.rs replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1000000 secs=600
if [ "${1:-}" = "--smoke" ]; then runs=-1 secs=20; shift; fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build
summary=()
status=0
for t in "${targets[@]}"; do
  seeds="seeds/$t"
  case "$t" in gguf_*) [ "$t" = gguf_vocab ] || seeds=seeds/gguf ;; esac
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  # rss_limit: no input may make a target hold more than 2 GB; timeout: nor take 10 s.
  if cargo +nightly fuzz run "$t" "corpus/$t" "$seeds" -- \
      -runs="$runs" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH status=1
    tail -40 "$log"
  fi
  done_line=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
  summary+=("$(printf '%-20s %-6s %s' "$t" "$result" "${done_line:-no final line}")")
  rm -f "$log"
done
echo "fuzz summary (budget: ${runs/#-1/unlimited} runs or ${secs} s per target):"
printf '  %s\n' "${summary[@]}"
exit $status
