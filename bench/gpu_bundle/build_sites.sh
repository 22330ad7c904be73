#!/bin/bash
# Build the site tarballs of the GPU check from the wheels in tools/dl (cp312 for the GPU machine),
# or, with CT2_WHEEL=... OUTDIR=..., a local-test variant.
set -euo pipefail
G=/work/main/.gpu
DL=$G/tools/dl
CT2_WHEEL=${CT2_WHEEL:-$(ls $DL/ctranslate2-4.8.5-cp312-*.whl)}
OUTA=${OUTA:-$G/a/site-a.tar.xz}
OUTB=${OUTB:-$G/b/site-b.tar.xz}
T=$(mktemp -d)
mkdir -p $T/a $T/b
for w in $DL/openai_whisper-*.whl $DL/more_itertools-*.whl $DL/faster_whisper-*.whl; do unzip -q -o "$w" -d $T/a; done
for w in "$CT2_WHEEL" $DL/faster_whisper-*.whl; do unzip -q -o "$w" -d $T/b; done
# the pybind module carries 67 MB of DWARF debug info: dropped (objcopy --strip-debug; code untouched)
objcopy --strip-debug $T/b/ctranslate2/_ext.*.so
(cd $T/a && tar --owner=0 --group=0 --sort=name -cf - . | nice xz -9e -T1 > "$OUTA")
(cd $T/b && tar --owner=0 --group=0 --sort=name -cf - . | nice xz -6 -T1 > "$OUTB")
ls -la "$OUTA" "$OUTB"
rm -rf $T
