#!/usr/bin/env bash
# Fetches the training corpus: the reStructuredText sources of the Python 3.11
# documentation, from Debian's `python3.11-doc` package (bookworm; ~12.6 MB .deb,
# 497 `*.rst.txt` files under usr/share/doc/python3.11/html/_sources/, ~11 MB of English
# prose with code examples, UTF-8, LF line ends). Idempotent: does nothing when the
# corpus is already there.
#
# Licence: the documentation is under the PSF License Agreement (version 2); since
# Python 3.8.6 its examples, recipes and other code are dual-licensed PSF / Zero-Clause
# BSD (`license.rst.txt`, section "Terms and conditions for accessing or otherwise using
# Python"). Both are free licences that allow redistribution and derived works. The
# licence text and Debian's copyright file are written beside the corpus.
#
# Output, in the lineage cache (`$LINEAGE_CACHE`, else `$XDG_CACHE_HOME/lineage`, else
# `~/.cache/lineage`):
#   corpus/python-docs.txt            every .rst.txt, sorted by path (C locale), one blank
#                                     line between documents
#   corpus/python-docs.LICENSE.txt    the documentation's licence (license.rst.txt)
#   corpus/python-docs.copyright      Debian's copyright file for the package
#   corpus/python-docs.source         package, version and sha256 of the .deb and corpus
#
# Needs apt-get (Debian) with its package lists (`apt-get update` once); installs nothing.
set -euo pipefail
pkg=python3.11-doc
cache="${LINEAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lineage}"
dir="$cache/corpus"
out="$dir/python-docs.txt"
if [ -s "$out" ]; then
  echo "corpus present: $out ($(stat -c %s "$out") bytes)"
  exit 0
fi
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$pkg" 2>&1 | grep -v 'unsandboxed' || true)
deb="$(ls "$tmp"/${pkg}_*.deb 2>/dev/null | head -n1)"
if [ -z "$deb" ] && [ "$(id -u)" = 0 ]; then
  # A fresh machine has no package lists yet.
  apt-get update -qq >/dev/null 2>&1 || true
  (cd "$tmp" && apt-get download -q "$pkg" 2>&1 | grep -v 'unsandboxed' || true)
  deb="$(ls "$tmp"/${pkg}_*.deb 2>/dev/null | head -n1)"
fi
if [ -z "$deb" ]; then
  echo "error: apt-get download $pkg failed; run 'apt-get update' first" >&2
  exit 1
fi
dpkg-deb -x "$deb" "$tmp/x"
src="$tmp/x/usr/share/doc/python3.11/html/_sources"
[ -d "$src" ] || { echo "error: $deb has no $src" >&2; exit 1; }
(
  cd "$src"
  first=1
  find . -type f -name '*.rst.txt' | LC_ALL=C sort | while read -r f; do
    [ "$first" = 1 ] || printf '\n'
    first=0
    cat "$f"
    # Each source ends with a newline; the printf above adds the blank line.
  done
) > "$out.part"
cp "$src/license.rst.txt" "$dir/python-docs.LICENSE.txt"
cp "$tmp/x/usr/share/doc/$pkg/copyright" "$dir/python-docs.copyright"
{
  echo "package: $pkg"
  echo "version: $(dpkg-deb -f "$deb" Version)"
  echo "deb_sha256: $(sha256sum "$deb" | cut -d' ' -f1)"
  echo "corpus_sha256: $(sha256sum "$out.part" | cut -d' ' -f1)"
  echo "files: $(find "$src" -type f -name '*.rst.txt' | wc -l)"
} > "$dir/python-docs.source"
mv "$out.part" "$out"
echo "corpus fetched: $out ($(stat -c %s "$out") bytes)"
