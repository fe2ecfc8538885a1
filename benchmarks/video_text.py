"""Video encoding throughput of `clip_frames` (CLIP per frame, mean over time) at ViT-B/16 size.

A CLIP of ViT-B/16's size (vision: 224 px, 16 px patches, width 768, 12 layers, 12 heads, MLP 3072;
text: width 512, 8 heads, 12 layers, MLP 2048, vocab 49408, 77 positions; 512-d projection) gets
random weights and is saved once, with `save_pretrained`, into a temporary HF folder with a tiny
byte-level tokenizer (514 ids; the video side never reads it). Every row then loads that folder
with `load_clip_frames(folder, frames=T)`, zslbench's own code path, and times `model.encode_video`
(eval, no_grad) on random clips [B, 1 view, 3, T, 224, 224]: one warm-up call (on the CPU, of 1
clip of 4 frames, to keep the run short), then the median of `--repeats` calls. The evaluator's
`ViewAdapter` adds only a mean over the one view to this.

CPU rows run in float32 with 1 torch thread ("per core") and with every core the process may use.
With `--device cuda` and CUDA present, GPU rows follow at batch 16: float32 (what the evaluator
runs), and fp16 and bf16 under `torch.autocast`; the clips are already on the GPU, so they time the
model, not the copy. Each row runs in its own process, so "peak MiB" is that row's peak resident
memory (CPU: ru_maxrss, model loading included) or its peak allocated GPU memory (CUDA:
torch.cuda.max_memory_allocated). The machine may be shared, so each CPU row also states its "CPU
share": the process's CPU time over wall time x threads (near 100%: it had its cores to itself), and
"CPU s/clip", its CPU time per clip: at 1 thread the core-seconds a clip costs, which time-slicing
with other processes does not inflate. The load average is printed before and after.

Usage: python benchmarks/video_text.py [--repeats 3] [--frames 8,16,32] [--batches 1,2] [--device cuda]
       python benchmarks/video_text.py --quick   (a smoke run: 8 frames, batch 1, all cores, 1 repeat)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

VISION = {
    "image_size": 224,
    "patch_size": 16,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
TEXT = {
    "hidden_size": 512,
    "num_attention_heads": 8,
    "num_hidden_layers": 12,
    "intermediate_size": 2048,
    "vocab_size": 49408,
    "max_position_embeddings": 77,
}
PROJECTION = 512
SIZE = VISION["image_size"]
GPU_BATCH = 16
GPU_DTYPES = ("float32", "float16", "bfloat16")
GPU_WARMUP, GPU_REPEATS = 3, 10
CPU_WARMUP_FRAMES = 4  # the CPU warm-up call: 1 clip of 4 frames (a full clip would cost a whole timed call)
SPECIALS = ("<|startoftext|>", "<|endoftext|>")


def peak_mib() -> float:
    """This process's peak resident memory so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- in a child process: the model folder, and one row ------------------------------------------------------------


def make_folder(folder: Path) -> dict:
    """Save a randomly initialised ViT-B/16-size CLIPModel and a tiny tokenizer into `folder`; what the
    machine runs (torch version, CUDA) comes back, so the parent never imports torch."""
    import torch
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    # The tokenizer: every byte, alone and as a word end, plus the two specials; no merges (514 ids).
    chars = list(bytes_to_unicode().values())
    vocab = {token: i for i, token in enumerate([*chars, *(c + "</w>" for c in chars), *SPECIALS])}
    bos, eos = (vocab[token] for token in SPECIALS)
    text = {**TEXT, "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": eos}
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=VISION, projection_dim=PROJECTION)).eval()
    model.save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "cuda": cuda,
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "vision_params": sum(p.numel() for p in model.vision_model.parameters()),
        "params": sum(p.numel() for p in model.parameters()),
        "weights_mib": (folder / "model.safetensors").stat().st_size / 2**20,
    }


def run_row(folder: Path, frames: int, batch: int, threads: int, device: str, dtype: str, repeats: int) -> dict:
    """Time `encode_video` on [batch, 1, 3, frames, 224, 224] in this process; see the module docstring."""
    import torch

    from zslbench.models.video_text.clip_frames import load_clip_frames

    cuda = device == "cuda"
    if not cuda:
        torch.set_num_threads(threads)
    model = load_clip_frames(folder, frames=frames).to(device).eval()
    assert model.input.frames == frames and model.input.size == SIZE, model.input
    generator = torch.Generator().manual_seed(0)
    clips = torch.randn(batch, model.input.total_views, 3, frames, SIZE, SIZE, generator=generator).to(device)
    autocast = nullcontext() if dtype == "float32" else torch.autocast(device, dtype=getattr(torch, dtype))

    def once(inputs: torch.Tensor) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad(), autocast:
            out = model.encode_video(inputs)
        if cuda:
            torch.cuda.synchronize()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert out.shape == (len(inputs), model.input.total_views, PROJECTION) and out.dtype == torch.float32
        return seconds, cpu

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for _ in range(GPU_WARMUP if cuda else 1):  # on the CPU a short clip: a full one would cost a whole call
        once(clips if cuda else clips[:1, :, :, :CPU_WARMUP_FRAMES])
    measured = [once(clips) for _ in range(repeats)]
    times = [wall for wall, _ in measured]
    seconds = statistics.median(times)
    cpu_seconds = statistics.median(cpu for _, cpu in measured)
    return {
        "frames": frames,
        "batch": batch,
        "threads": "GPU" if cuda else threads,
        "dtype": dtype if cuda else "float32",
        "seconds": seconds,
        "spread": (max(times) - min(times)) / seconds,
        "times": times,
        "clips_s": batch / seconds,
        "cpu_share": None if cuda else cpu_seconds / (seconds * threads),
        "cpu_s_clip": None if cuda else cpu_seconds / batch,
        "peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_mib(),
    }


# -- the parent: one process per row, then the table ---------------------------------------------------------------


def child(*args: str, script: str = __file__) -> dict:
    """Run `script` (this one by default) with `args` in a fresh process; its last stdout line is JSON."""
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve_child(args: argparse.Namespace, row: Callable[..., dict]) -> bool:
    """In a child process: make the model folder (--make) or run one row (--one) and print its JSON;
    False in the parent."""
    if args.make:
        print(json.dumps(make_folder(Path(args.make))))
    elif args.one:
        print(json.dumps(row(**json.loads(args.one))))
    return bool(args.make or args.one)


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| frames | batch | threads | precision | clips/s | frames/s | ms/clip | spread | CPU share | CPU s/clip "
        "| peak MiB |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cpu = row["cpu_share"] is not None
        share, cpu_s = (f"{row['cpu_share']:.0%}", f"{row['cpu_s_clip']:.2f}") if cpu else ("", "")
        lines.append(
            f"| {row['frames']} | {row['batch']} | {row['threads']} | {row['dtype']} | {row['clips_s']:.3f} "
            f"| {row['clips_s'] * row['frames']:.2f} | {1000 / row['clips_s']:.0f} | {row['spread']:.0%} "
            f"| {share} | {cpu_s} | {row['peak_mib']:.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per CPU row (median), after 1 warm-up")
    parser.add_argument("--frames", default="8,16,32", help="frames per clip, comma-separated")
    parser.add_argument("--batches", default="1,2", help="clips per call on the CPU, comma-separated")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: GPU rows too, at batch 16")
    parser.add_argument("--gpu-only", action="store_true", help="only the GPU rows (implies --device cuda)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 8 frames, batch 1, all cores, 1 repeat")
    parser.add_argument("--make", help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if serve_child(args, run_row):
        return
    # The parent imports no torch: a child's ru_maxrss can include its parent's memory at the fork.
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    frame_counts = [int(f) for f in args.frames.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    thread_counts = sorted({1, cores})
    if args.quick:
        frame_counts, batches, thread_counts, args.repeats = frame_counts[:1], [1], [cores], 1
    gpu = args.device == "cuda" or args.gpu_only
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="zslbench-video-text-") as tmp:
        folder = Path(tmp) / "clip-vit-b16-random"
        print("saving the random ViT-B/16-size CLIP ...", file=sys.stderr, flush=True)
        about = child("--make", str(folder))
        plan = []
        if not args.gpu_only:
            for frames in frame_counts:
                for batch in batches:
                    for threads in thread_counts:
                        plan.append((frames, batch, threads, "cpu", "float32", args.repeats))
        if gpu and about["cuda"]:
            for frames in frame_counts:
                for dtype in GPU_DTYPES:
                    plan.append((frames, GPU_BATCH, 1, "cuda", dtype, GPU_REPEATS))
        elif gpu:
            skipped = f"the GPU rows (fp32, fp16 and bf16 autocast, batch {GPU_BATCH}) were skipped"
            notes.append(f"CUDA is not available (torch {about['torch']}): {skipped}")
        else:
            notes.append("GPU rows not requested: pass --device cuda on a CUDA machine")
        for frames, batch, threads, device, dtype, repeats in plan:
            where = f"{threads} thread(s)" if device == "cpu" else "GPU"
            print(f"{frames} frames, batch {batch}, {where}, {dtype} ...", file=sys.stderr, flush=True)
            spec = {"folder": str(folder), "frames": frames, "batch": batch, "threads": threads}
            spec |= {"device": device, "dtype": dtype, "repeats": repeats}
            rows.append(child("--one", json.dumps(spec)))
            times = ", ".join(f"{t:.2f}" for t in rows[-1]["times"])
            print(f"  seconds per call: {times}", file=sys.stderr, flush=True)
    gpu_name = about["gpu"] or "no GPU"
    print(f"machine: {platform.machine()}, {cores} cores, {gpu_name}, torch {about['torch']}")
    print(
        f"model: clip_frames (temporal mean), ViT-B/16-size CLIP with random weights, {about['params'] / 1e6:.1f}M "
        f"parameters ({about['vision_params'] / 1e6:.1f}M vision), {about['weights_mib']:.0f} MiB safetensors"
    )
    print(
        f"input: [batch, 1 view, 3, frames, {SIZE}, {SIZE}] float32; CPU: median of {args.repeats} calls after 1 "
        f"warm-up call of 1 clip x {CPU_WARMUP_FRAMES} frames; GPU: median of {GPU_REPEATS} after {GPU_WARMUP}"
    )
    print(
        "spread: (slowest - fastest) / median; CPU share: the process's CPU time / (wall time x threads); "
        "CPU s/clip: its CPU time per clip (at 1 thread, core-seconds, whatever else runs)"
    )
    load_after = os.getloadavg()
    loads = [", ".join(f"{value:.2f}" for value in load) for load in (load_before, load_after)]
    print(f"load average (1, 5, 15 min): {loads[0]} before, {loads[1]} after")
    print("peak MiB: the row process's peak RSS (CPU rows) or peak allocated GPU memory (GPU rows)")
    print()
    print("\n".join(table(rows)))
    for note in notes:
        print(f"\nnote: {note}")


if __name__ == "__main__":
    main()
