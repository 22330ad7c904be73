#!/bin/bash
# What each call sends: the working tree (tracked + untracked-not-ignored files) plus its carried folders.
cd /work/main
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
common=$(du -sb .gpu/common | cut -f1); a=$(du -sb .gpu/a | cut -f1); b=$(du -sb .gpu/b | cut -f1)
mib() { python3 -c "print(f'{$1/2**20:.2f} MiB')"; }
echo "working tree: $(mib $tree); .gpu/common $(mib $common); .gpu/a $(mib $a); .gpu/b $(mib $b)"
echo "call 1 (ow): $(mib $((tree+common+a))) of 64 MiB"
echo "call 2 (fw): $(mib $((tree+common+b))) of 64 MiB"
