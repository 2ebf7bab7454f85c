#!/bin/sh
# Seeds the fuzz corpora from tests/corpus: each file behind the 3 settings bytes the targets
# read first (UTF-8 or UTF-16LE, a few cuts). Run from the repository root.
set -eu
for target in decode engine; do
    mkdir -p "fuzz/corpus/$target"
    for f in tests/corpus/*; do
        case "$f" in *.toml) continue ;; esac
        name=$(basename "$f")
        case "$name" in *utf16le*) flags='\002' ;; *) flags='\000' ;; esac
        { printf "$flags\\003\\007"; cat "$f"; } > "fuzz/corpus/$target/seed-$name"
        { printf "$flags\\377\\000"; cat "$f"; } > "fuzz/corpus/$target/seed-bytes-$name"
    done
done
