#!/usr/bin/env bash
# Every `unsafe` in crates/ must say why it is sound: a `// SAFETY:` comment on the line
# or ending within the 3 lines above it, or, for an `unsafe fn` (and `unsafe fn` pointer types),
# a `# Safety` section in the doc comment / attributes directly above it.
# Prints each uncovered site and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
find crates -name '*.rs' -print0 | sort -z | xargs -0 awk '
FNR == 1 { delete prev; n = 0 }
{
    line = $0
    code = line
    sub(/\/\/.*/, "", code)                      # drop comments (and doc comments)
    if (code ~ /(^|[^A-Za-z0-9_])unsafe([^A-Za-z0-9_]|$)/) {
        total++
        ok = (line ~ /SAFETY:/)
        # A comment ending within the 3 lines above: search it up to its first line.
        for (k = 1; k <= 3 && !ok; k++) {
            if (prev[n - k] ~ /SAFETY:|# Safety/) ok = 1
            else if (prev[n - k] ~ /^[ \t]*\/\//)
                for (j = k + 1; j <= 40 && prev[n - j] ~ /^[ \t]*\/\//; j++)
                    if (prev[n - j] ~ /SAFETY:/) { ok = 1; break }
        }
        # unsafe fn: walk up the contiguous doc comments and attributes.
        if (!ok && code ~ /unsafe fn/) {
            for (k = 1; k <= 40; k++) {
                p = prev[n - k]
                if (p !~ /^[ \t]*(\/\/\/|#\[|\/\/)/) break
                if (p ~ /# Safety|SAFETY:/) { ok = 1; break }
            }
        }
        if (ok) covered++
        else { printf "%s:%d: %s\n", FILENAME, FNR, line; missing++ }
    }
    prev[n++] = line
}
END {
    printf "unsafe sites: %d, covered: %d, missing: %d\n", total, covered, missing
    exit missing > 0
}'
