"""What does a whole-file fingerprint cost? Prints a Markdown table.

Two inputs, written to a temporary folder and deleted afterwards:
1. one file the size of GoogleNews-vectors-negative300.bin (3,644,258,522 bytes; --big-mb);
2. a tree shaped like UCF101: 101 class folders, 13,320 files of 100-600 KB (--files, --min-kb, --max-kb).

For each: the old sampled fingerprint (size + sha256 of three 1 MiB samples, which let same-size edits
pass), the whole-file BLAKE3 fingerprint on its first run (empty memo) with the files' pages dropped
from the page cache (posix_fadvise; the host of a VM may still cache them) and with them cached, a
later run in a new process (the SQLite memo answers), and a repeat in the same process (its memory).
Every run is a fresh process, timed around the fingerprint calls only (imports excluded).

Usage: python benchmarks/fingerprint.py [--big-mb 3475] [--files 13320] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOOGLENEWS_BYTES = 3_644_258_522
SAMPLE_BYTES = 1 << 20


def sampled_fingerprint(path: Path | str) -> str:
    """The fingerprint before issue 10: size + sha256 of the head, middle and tail MiB."""
    size = os.stat(path).st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        for offset in sorted({0, max(0, size // 2 - SAMPLE_BYTES // 2), max(0, size - SAMPLE_BYTES)}):
            handle.seek(offset)
            digest.update(handle.read(SAMPLE_BYTES))
    return f"{size}-{digest.hexdigest()[:16]}"


def child(mode: str, listing: str) -> None:
    """Fingerprint every file named in `listing` and print the seconds (twice for mode 'repeat')."""
    from zslbench.core.hashing import file_fingerprint

    paths = Path(listing).read_text().split("\n")
    function = sampled_fingerprint if mode == "sampled" else file_fingerprint
    times = []
    for _ in range(2 if mode == "repeat" else 1):
        start = time.perf_counter()
        for path in paths:
            function(path)
        times.append(time.perf_counter() - start)
    print(json.dumps(times[-1]))


def run(mode: str, listing: Path, cache: Path) -> float:
    env = {**os.environ, "ZSLBENCH_CACHE": str(cache)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(listing)], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout)


def drop_pages(paths: list[Path]) -> None:
    """Evict the files' pages from this machine's page cache (clean pages only, hence the sync)."""
    os.sync()
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def write_big(path: Path, size: int) -> None:
    block = np.random.default_rng(0).bytes(64 << 20)
    with open(path, "wb") as handle:
        for number, offset in enumerate(range(0, size, len(block))):
            handle.write(number.to_bytes(8, "little") + block[8 : min(len(block), size - offset)])


def write_tree(root: Path, files: int, min_kb: int, max_kb: int) -> list[Path]:
    rng = np.random.default_rng(1)
    pool = rng.bytes(max_kb * 1024 * 4)
    paths = []
    for number in range(files):
        folder = root / f"Class{number % 101:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = int(rng.integers(min_kb, max_kb + 1)) * 1024
        start = int(rng.integers(0, len(pool) - size))
        path = folder / f"v_Class{number % 101:03d}_g{number // 101:03d}.avi"
        path.write_bytes(number.to_bytes(8, "little") + pool[start + 8 : start + size])
        paths.append(path)
    return paths


def measure(label: str, paths: list[Path], work: Path) -> list[tuple[str, str, float, int]]:
    """(input, fingerprint, seconds, files) rows; the new fingerprint's cold run goes first, so a host
    cache outside this VM favours the old one if anything."""
    listing = work / f"{label}.txt"
    listing.write_text("\n".join(map(str, paths)))
    rows = []

    def row(what: str, seconds: float) -> None:
        rows.append((label, what, seconds, len(paths)))
        print(f"  {what}: {seconds:.3f} s", file=sys.stderr)

    drop_pages(paths)
    row("whole file (BLAKE3), first run, pages dropped", run("first", listing, work / f"{label}-cold"))
    drop_pages(paths)
    row("sampled (old), pages dropped", run("sampled", listing, work / "unused"))
    for path in paths:  # into the page cache again
        with open(path, "rb") as handle:
            while handle.read(64 << 20):
                pass
    row("whole file (BLAKE3), first run, pages cached", run("first", listing, work / f"{label}-warm"))
    row("sampled (old), pages cached", run("sampled", listing, work / "unused"))
    row("whole file, a later run (SQLite memo)", run("first", listing, work / f"{label}-warm"))
    row("whole file, again in one process (memory)", run("repeat", listing, work / f"{label}-warm"))
    memo = sum(p.stat().st_size for p in (work / f"{label}-warm" / "fingerprints").iterdir())
    rows.append((label, f"memo database afterwards: {memo / 1e6:.2f} MB", float("nan"), len(paths)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--big-mb", type=float, default=GOOGLENEWS_BYTES / (1 << 20))
    parser.add_argument("--files", type=int, default=13_320)
    parser.add_argument("--min-kb", type=int, default=100)
    parser.add_argument("--max-kb", type=int, default=600)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the inputs (default: a temp folder)")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    big_bytes = int(args.big_mb * (1 << 20))
    needed = big_bytes + args.files * (args.min_kb + args.max_kb) * 512 + (1 << 30)
    base = args.dir or Path(tempfile.gettempdir())
    free = shutil.disk_usage(base).free
    if free < needed:
        sys.exit(f"{base} has {free / 1e9:.1f} GB free; this run needs about {needed / 1e9:.1f} GB")
    work = Path(tempfile.mkdtemp(prefix="zslbench-fingerprint-", dir=base))
    try:
        print(f"writing {big_bytes / 1e9:.2f} GB and {args.files} files under {work}", file=sys.stderr)
        big = work / "GoogleNews-vectors-negative300.bin"
        write_big(big, big_bytes)
        tree = write_tree(work / "UCF-101", args.files, args.min_kb, args.max_kb)
        tree_bytes = sum(path.stat().st_size for path in tree)
        time.sleep(2.5)  # older than hashing.RECENT_NS, so their fingerprints may be remembered
        rows = []
        print("GoogleNews-sized file", file=sys.stderr)
        rows += measure("GoogleNews-sized file", [big], work)
        print("UCF101-like tree", file=sys.stderr)
        rows += measure(f"UCF101-like tree, {args.files:,} files", tree, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {cpu}; big file {big_bytes / 1e9:.2f} GB, tree {tree_bytes / 1e9:.2f} GB\n")
    print("| input | fingerprint | seconds | per file |")
    print("|---|---|---:|---:|")
    for label, what, seconds, files in rows:
        if seconds != seconds:  # the memo's size
            print(f"| {label} | {what} | | |")
        else:
            print(f"| {label} | {what} | {seconds:.3f} | {_duration(seconds / files)} |")


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
