"""How fast is `zslbench split`? Prints a Markdown table.

1. Start-up: `zslbench split --threshold 0.05` end to end (process start to exit, default
   embedding, warm class-vector cache) against `python -c "import numpy, pandas"`; target <= 3x.
   Also checks with `python -X importtime` that the command imports neither torch nor decord.
2. Large embedding files: a split with a word2vec binary of --words x 300 floats, first with an
   empty cache (reads the file) and then again (reuses cached class vectors).

Usage: python benchmarks/split_speed.py [--repeats 7] [--words 300000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(cmd: list[str], env: dict[str, str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_imports(cmd: list[str], env: dict[str, str]) -> list[str]:
    run = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True)
    modules = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    return sorted(m for m in ("torch", "decord") if m in modules)


def write_big_word2vec(path: Path, words: int, dim: int = 300) -> None:
    """A word2vec binary whose first rows hold every word the shipped class lists need."""
    from zslbench.text.phrases import class_words
    from zslbench.text.vocab import DATASETS, load_class_list

    needed = sorted({w for d in DATASETS for c in load_class_list(d).classes for w in class_words(c)})
    rng = np.random.default_rng(0)
    with open(path, "wb") as handle:
        handle.write(f"{words} {dim}\n".encode())
        for start in range(0, words, 50_000):
            block = rng.standard_normal((min(50_000, words - start), dim), dtype=np.float32)
            for row, vector in enumerate(block, start=start):
                word = needed[row] if row < len(needed) else f"filler{row}"
                handle.write(word.encode() + b" " + vector.tobytes() + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--words", type=int, default=300_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ZSLBENCH_CACHE": str(Path(tmp) / "cache")}
        split = [sys.executable, "-m", "zslbench", "split", "--threshold", "0.05", "--out", str(Path(tmp) / "out")]
        subprocess.run(split, env=env, check=True, stdout=subprocess.DEVNULL)  # warm the cache
        baseline = timed([sys.executable, "-c", "import numpy, pandas"], env, args.repeats)
        warm = timed(split, env, args.repeats)
        help_time = timed([sys.executable, "-m", "zslbench", "--help"], env, args.repeats)
        heavy = heavy_imports(split, env)
        rows.append(("python -c 'import numpy, pandas'", baseline, "1.00x", "baseline"))
        rows.append(("zslbench --help", help_time, f"{help_time / baseline:.2f}x", ""))
        verdict = "ok" if warm <= 3 * baseline else "SLOWER THAN TARGET"
        rows.append(
            (
                "zslbench split --threshold 0.05 (warm cache)",
                warm,
                f"{warm / baseline:.2f}x",
                f"target <= 3x: {verdict}",
            )
        )

        vectors = Path(tmp) / "big.bin"
        write_big_word2vec(vectors, args.words)
        size_mb = vectors.stat().st_size / 1e6
        big = [*split, "--embedding", f"word2vec:{vectors}"]
        cold = timed(big, env, 1)
        again = timed(big, env, args.repeats)
        label = f"split --embedding word2vec ({args.words:,} x 300, {size_mb:,.0f} MB)"
        rows.append((f"{label}, first run", cold, f"{cold / baseline:.2f}x", "reads the file"))
        rows.append((f"{label}, second run", again, f"{again / baseline:.2f}x", f"cached: {cold / again:.0f}x faster"))

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}, median of {args.repeats} runs")
    print(f"imports torch/decord during split: {', '.join(heavy) if heavy else 'neither'}\n")
    print("| command | seconds | vs baseline | note |")
    print("|---|---:|---:|---|")
    for name, seconds, ratio, note in rows:
        print(f"| {name} | {seconds:.3f} | {ratio} | {note} |")


if __name__ == "__main__":
    main()
