"""Training-step speed and memory: tiny and full R(2+1)D, with and without real data loading.

Each row runs in its own process, so "peak RSS" is that configuration's peak resident memory (CPU)
or peak allocated memory (CUDA). Data "off" feeds random tensors; "on" decodes the synthetic
benchmark's videos through the real DataLoader, and "data wait" is the share of each step spent
waiting for the next batch. On a CUDA machine the full model also runs at the paper's batch of 22
clips of 16x112x112 with AMP.

Usage: python benchmarks/train_step.py [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {
    # name: (width, clip_len, crop, batch, data, workers, device)
    "tiny, data off": (0.25, 8, 56, 8, False, 0, "cpu"),
    "tiny, data on (0 workers)": (0.25, 8, 56, 8, True, 0, "cpu"),
    "tiny, data on (2 workers)": (0.25, 8, 56, 8, True, 2, "cpu"),
    "full, data off (batch 4)": (1.0, 16, 112, 4, False, 0, "cpu"),
    "full, data on (batch 4, 2 workers)": (1.0, 16, 112, 4, True, 2, "cpu"),
    "full AMP, data off (batch 22)": (1.0, 16, 112, 22, False, 0, "cuda"),
    "full AMP, data on (batch 22, 8 workers)": (1.0, 16, 112, 22, True, 8, "cuda"),
}


def run_one(name: str, steps: int, videos: Path) -> dict:
    import torch

    from zslbench.models import build_model
    from zslbench.models.losses import embedding_loss
    from zslbench.video.dataset import VideoClipDataset, make_loader
    from zslbench.video.manifest import read_manifest
    from zslbench.video.sampler import ClipSpec

    width, clip_len, crop, batch, data, workers, device = CONFIGS[name]
    torch.manual_seed(0)
    model = build_model("e2e_r2plus1d", 50, width=width).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    targets = torch.nn.functional.normalize(torch.randn(36, 50), dim=1).to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=device == "cuda")
    if data:
        manifest = read_manifest(videos / "source.csv")
        spec = ClipSpec(clip_len=clip_len, crop=crop, short_side=max(crop, 64 if crop < 100 else 128))
        dataset = VideoClipDataset(
            manifest.records, manifest.labels(), spec, "train", decode_threads=1 if workers else 0
        )
        batches = iter(make_loader(dataset, batch, workers, shuffle=True))
    else:
        fixed = {"clips": torch.randn(batch, 1, 3, clip_len, crop, crop), "labels": torch.randint(0, 36, (batch,))}
        batches = iter(lambda: fixed, None)
    step_times, waits = [], []
    for step in range(steps + 1):
        start = time.perf_counter()
        item = next(batches)
        clips, labels = item["clips"].to(device, non_blocking=True), item["labels"].to(device)
        loaded = time.perf_counter()
        with torch.autocast(device, dtype=torch.float16, enabled=device == "cuda"):
            out = model(clips)
        loss = embedding_loss(out.float(), labels, targets)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step warms up
            step_times.append(time.perf_counter() - start)
            waits.append(loaded - start)
    seconds = sum(step_times) / len(step_times)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "name": name,
        "step_s": seconds,
        "clips_s": batch / seconds,
        "wait": sum(waits) / sum(step_times),
        "peak_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--videos", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.steps, Path(args.videos))))
        return
    import torch

    from zslbench.video.synth import make_synth

    cuda = torch.cuda.is_available()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        videos = make_synth(Path(tmp) / "synth").root
        for name, config in CONFIGS.items():
            if config[-1] == "cuda" and not cuda:
                continue
            command = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--videos", str(videos)]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    device = torch.cuda.get_device_name() if cuda else "no GPU"
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {device}, torch {torch.__version__}"
    print(f"machine: {machine}, mean of {args.steps} steps after one warm-up step")
    print("| configuration | s/step | clips/s | data wait | peak memory (MB) |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['name']} | {row['step_s']:.3f} | {row['clips_s']:.1f} | {row['wait']:.0%} | {row['peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
