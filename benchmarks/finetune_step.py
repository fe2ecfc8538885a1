"""One fine-tuning step of `clip_frames` at ViT-B/16 size: text tower frozen or tuned, by class count.

What `zslbench train --model clip_frames` runs per step (training/objective.py): the video tower on a
batch of clips, the training classes' text embeddings (computed once when the text tower is frozen;
recomputed with gradients every step when it is tuned), the softmax loss with a learned temperature,
backward, and an Adam step over what is trained. The CLIP of ViT-B/16's size has random weights and is
saved once into a temporary HF folder by benchmarks/video_text.py's `make_folder` (its tokenizer is the
tiny byte-level one, so a class name takes one token per character: longer sequences than CLIP's BPE
would give, i.e. the tuned rows are upper bounds). Class names are the first N of Kinetics-400, one
template ("{}").

Each row runs in its own process ("peak MiB" is its ru_maxrss, model loading included): one warm-up
step, then the median of `--repeats` steps, in float32 on every core the process may use. The CPU share
(CPU time over wall time x threads) says whether the row had its cores to itself.

Usage: python benchmarks/finetune_step.py [--repeats 2] [--frames 8] [--batch 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from video_text import child as run_child
from video_text import peak_mib, serve_child

ROWS = (("frozen", 400), ("tuned", 100), ("tuned", 400))  # (text tower, training classes)


def run_row(folder: str, tower: str, classes: int, frames: int, batch: int, repeats: int) -> dict:
    """Time full optimisation steps in this process; see the module docstring."""
    import torch

    from zslbench.models.losses import build_loss
    from zslbench.models.video_text.clip_frames import load_clip_frames
    from zslbench.models.video_text.prompts import TextSpec
    from zslbench.text.vocab import load_class_list
    from zslbench.training.objective import Objective
    from zslbench.training.video_text import ClassTexts, VideoEmbeddings, freeze_all_but

    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    model = load_clip_frames(Path(folder), frames=frames).train()
    names = load_class_list("kinetics400").classes[:classes]
    trainable = freeze_all_but(model, tower)
    loss = build_loss("softmax", model.temperature(), learn_temperature=True)
    texts = ClassTexts(model, TextSpec().texts(names), classes, tuned=tower == "tuned")
    objective = Objective(VideoEmbeddings(model), texts, loss)
    optimizer = torch.optim.Adam([*trainable, *loss.parameters()], lr=1e-5)
    generator = torch.Generator().manual_seed(0)
    clips = torch.randn(batch, 1, 3, frames, model.input.size, model.input.size, generator=generator)
    labels = torch.arange(batch) % classes

    def step() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        value = objective(clips, labels)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        return time.perf_counter() - start, time.process_time() - cpu

    step()  # warm-up
    measured = [step() for _ in range(repeats)]
    seconds = statistics.median(wall for wall, _ in measured)
    cpu = statistics.median(c for _, c in measured)
    return {
        "tower": tower,
        "classes": classes,
        "trained_mparams": sum(p.numel() for p in trainable) / 1e6,
        "seconds": seconds,
        "times": [wall for wall, _ in measured],
        "clips_s": batch / seconds,
        "cpu_share": cpu / (seconds * threads),
        "peak_mib": peak_mib(),
    }


def child(*args: str) -> dict:
    return run_child(*args, script=__file__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per row (median), after 1 warm-up")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--make", help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if serve_child(args, run_row):
        return
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="zslbench-finetune-") as tmp:
        folder = Path(tmp) / "clip-vit-b16-random"
        about = child("--make", str(folder))
        for tower, classes in ROWS:
            print(f"text tower {tower}, {classes} classes ...", file=sys.stderr, flush=True)
            spec = {"folder": str(folder), "tower": tower, "classes": classes}
            rows.append(
                child(
                    "--one", json.dumps({**spec, "frames": args.frames, "batch": args.batch, "repeats": args.repeats})
                )
            )
    cores = len(os.sched_getaffinity(0))
    print(
        f"machine: {cores} cores, torch {about['torch']}; CLIP ViT-B/16 size, random weights, "
        f"{about['params'] / 1e6:.1f}M parameters"
    )
    print(
        f"step: batch {args.batch} x 1 clip x {args.frames} frames x 224 px, float32, "
        f"median of {args.repeats} after 1 warm-up"
    )
    print(f"load average before: {load_before[0]:.2f}, after: {os.getloadavg()[0]:.2f}\n")
    print("| text tower | classes | trained M params | s/step | clips/s | CPU share | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['tower']} | {row['classes']} | {row['trained_mparams']:.1f} | {row['seconds']:.1f} "
            f"| {row['clips_s']:.3f} | {row['cpu_share']:.0%} | {row['peak_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
