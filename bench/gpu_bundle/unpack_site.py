"""Extract a site tarball (packages as their wheels install them) into a --target folder: python3 unpack_site.py TAR DEST"""
import sys
import tarfile
import time

started = time.perf_counter()
src, dest = sys.argv[1], sys.argv[2]
with tarfile.open(src) as tar:
    try:
        tar.extractall(dest, filter="tar")
    except TypeError:  # Python without extraction filters
        tar.extractall(dest)
    names = sorted({m.name.removeprefix("./").split("/")[0] for m in tar.getmembers()} - {"", "."})
print(f"unpacked {src} into {dest} in {time.perf_counter() - started:.1f} s: {' '.join(names)}")
