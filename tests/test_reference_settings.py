"""The reference implementation's settings as protocol data (Brattoli et al. 2020; github
bbrattoli/ZeroShotVideoClassification): clip positions, resize, crop, epoch length and batch.

The expected values are re-derived here from the reference's rules, written independently of
zslbench's code: its reader is simulated frame by frame, its resize is re-done in numpy.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ports import free_port
from tiny_runs import tiny_config

from zslbench.core.errors import ZslbenchError
from zslbench.protocol.spec import identity_data, load_protocol, read_protocol
from zslbench.reporting.gate import compare, published_references
from zslbench.reporting.observations import Observation, from_record
from zslbench.training.settings import per_rank_batch, steps_per_epoch
from zslbench.training.trainer import train
from zslbench.video.dataset import VideoClipDataset
from zslbench.video.decode import Video, scaled_size
from zslbench.video.encode import write_video
from zslbench.video.manifest import VideoRecord
from zslbench.video.sampler import ClipSampler, ClipSpec
from zslbench.video.transforms import crop_clips, resize_like_reference

LENGTHS = (1, 5, 16, 17, 24, 25, 100, 300, 301)
BASES = ("brattoli2020-k700-ucf-hmdb", "brattoli2020-k700-ucf-hmdb-anet", "brattoli2020-k400-ucf-hmdb")


def simulated_reference_read(n_frames: int, clip_len: int, n_clips: int, starts: list[int]) -> np.ndarray:
    """What the reference's load_clips_tsn returns, as frame numbers: a capture read one frame at a time
    (count from 0); frames whose number is selected are kept in reading order; a read past the end keeps a
    copy of the last kept frame; the kept frames are repeated from the start to n_clips x clip_len."""
    period = max(n_frames // n_clips, 1)
    snippets = min(n_clips, n_frames // period)
    offsets = list(range(0, n_frames, period))  # may outnumber the clips (301 frames: 26); zip stops at 25
    selection = [o + s + j for o, s in zip(offsets, starts[:snippets], strict=False) for j in range(clip_len)]
    selected = set(selection)
    kept, count = [], 0
    while count < selection[-1] + clip_len:
        if count in selected:
            kept.append(count if count < n_frames else kept[-1])
        count += 1
    total = n_clips * clip_len
    while len(kept) < total:
        kept = kept + kept[: total - len(kept)]
    return np.array(kept).reshape(n_clips, clip_len)


@pytest.mark.parametrize("n_frames", LENGTHS)
def test_reference_test_positions_equal_the_reference_reader(n_frames):
    spec = ClipSpec(clip_len=16, test_clips=25, test_position="reference")
    expected = simulated_reference_read(n_frames, 16, 25, [0] * 25)
    assert np.array_equal(ClipSampler(spec, "test").indices(n_frames), expected)


@pytest.mark.parametrize("n_frames", LENGTHS)
def test_reference_training_starts_cover_exactly_the_reference_range(n_frames):
    """One clip: the start is np.random.randint(0, max(1, n - 16)), so the last valid start n - 16 is
    never drawn and a video of at most 17 frames always starts at 0; frames past the end repeat the last."""
    spec = ClipSpec(clip_len=16, train_clips=1, train_position="reference")
    sampler, rng = ClipSampler(spec, "train"), np.random.default_rng(0)
    drawn = [sampler.indices(n_frames, rng) for _ in range(8000)]
    starts = {int(clips[0, 0]) for clips in drawn}
    assert starts == set(range(max(1, n_frames - 16)))
    for clips in drawn[:300]:
        assert np.array_equal(clips, simulated_reference_read(n_frames, 16, 1, [int(clips[0, 0])]))


def test_zslbench_placement_differs_where_the_reference_is_odd():
    """The reason both exist: for 100 frames the reference's 25 clips are the first 112 frames, cut
    in 16 and repeated; zslbench's spread over the whole video."""
    reference = ClipSampler(ClipSpec(test_position="reference"), "test").indices(100)
    spread = ClipSampler(ClipSpec(), "test").indices(100)
    assert reference[7, 0] == 0 and reference[6].tolist() == [96, 97, 98, 99] + [99] * 12
    assert spread[-1, -1] == 99 and spread[:, 0].tolist() == sorted(spread[:, 0].tolist())


def numpy_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resize, align_corners=False, source coordinate (x + 0.5) x in / out - 0.5 clamped at 0:
    torch's rule when it is given the output size (as torch 1.2 always was). float64 [H, W] -> [h, w]."""

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, src - low

    y0, y1, wy = axis(image.shape[0], out_h)
    x0, x1, wx = axis(image.shape[1], out_w)
    top = image[y0][:, x0] * (1 - wx) + image[y0][:, x1] * wx
    bottom = image[y1][:, x0] * (1 - wx) + image[y1][:, x1] * wx
    return top * (1 - wy)[:, None] + bottom * wy[:, None]


@pytest.fixture(scope="module")
def clip_320x240(tmp_path_factory) -> Path:
    """A real 320x240 h264 file (the UCF101 size), 30 frames of a texture that varies along both axes
    (so a wrong scale along either shows)."""
    y, x = np.mgrid[0:240, 0:320]
    planes = [(x * x // 7 + y) % 256, (y * y // 5 + x * 2) % 256]
    frames = (np.stack([(x * 3 + y * 5 + 7 * i) % 256, *planes], -1).astype(np.uint8) for i in range(30))
    return write_video(tmp_path_factory.mktemp("video") / "ucf-size.mp4", frames)


def test_reference_resize_reproduces_torch_bilinear_on_a_real_clip(clip_320x240):
    spec = ClipSpec(clip_len=16, test_clips=2, resize="torch_bilinear", resize_rounding="floor", crop=112)
    dataset = VideoClipDataset([VideoRecord(clip_320x240, "a")], ["a"], spec, "test")
    item = dataset[0]
    assert item["clips"].dtype == torch.float32 and item["clips"].shape == (2, 16, 112, 112, 3)

    full = Video(clip_320x240).read(ClipSampler(spec, "test").indices(30))  # [2, 16, 240, 320, 3]
    planes = torch.from_numpy(full).reshape(-1, 240, 320, 3).permute(3, 0, 1, 2).to(torch.float32) / 255
    resized = torch.nn.functional.interpolate(planes, size=(128, 170), mode="bilinear", align_corners=False)
    expected = resized.permute(1, 2, 3, 0).reshape(2, 16, 128, 170, 3)[:, :, 8:120, 29:141]
    assert torch.equal(item["clips"], expected)  # bit for bit, centre crop at (8, 29)

    # the rule, re-done in float64: torch computes source coordinates in float32 (1e-5 apart at x = 320)
    again = numpy_bilinear(full[0, 3, :, :, 1].astype(np.float64) / 255, 128, 170)
    assert np.abs(again - resized[1, 3].numpy()).max() < 5e-5
    # a scale_factor (torch >= 1.6 maps coordinates by 1 / scale) is the same size, other pixels
    by_factor = torch.nn.functional.interpolate(planes[1:2, 3:4], scale_factor=128 / 240, mode="bilinear")
    assert by_factor.shape[-2:] == (128, 170) and np.abs(again - by_factor[0, 0].numpy()).max() > 0.05


@pytest.mark.parametrize("short_side", [128, 40])
def test_resizing_in_pieces_gives_the_same_pixels_as_one_stack(clip_320x240, short_side):
    """torch's CPU bilinear takes another path for few planes (an ulp apart at 40 of 240, say): pieces
    of any size, and the exact reader's resize as it reads, equal the whole stack of 30 frames."""
    video = Video(clip_320x240)
    frames = video.read(np.arange(30)[None])
    whole = resize_like_reference(frames, short_side)
    for piece in (1, 7, 16):
        pieces = [resize_like_reference(frames[:, i : i + piece], short_side) for i in range(0, 30, piece)]
        assert np.array_equal(np.concatenate(pieces, axis=1), whole), piece
    resize = functools.partial(resize_like_reference, short_side=short_side)
    assert np.array_equal(video.read(np.arange(30)[None], resize, group=5), whole)


def test_sizes_round_or_floor_like_each_resize():
    assert scaled_size(320, 240, 128) == (171, 128)
    assert scaled_size(320, 240, 128, "floor") == (170, 128)
    assert scaled_size(240, 320, 128, "floor") == (128, 170)
    assert scaled_size(1920, 1080, 128, "floor") == (math.floor(1920 * (128 / 1080)), 128)


def test_the_centre_crop_rounds_like_python_round_on_request():
    frames = np.arange(1 * 1 * 128 * 171 * 3, dtype=np.int64).reshape(1, 1, 128, 171, 3)
    floor = crop_clips(frames, 112)
    half_even = crop_clips(frames, 112, rounding="half_even")
    assert np.array_equal(floor, frames[:, :, 8:120, 29:141])
    assert np.array_equal(half_even, frames[:, :, 8:120, 30:142])  # round(29.5) == 30


def test_per_video_augmentation_shares_one_crop_and_flip():
    frames = np.random.default_rng(1).integers(0, 256, (6, 2, 40, 40, 3), dtype=np.uint8)
    frames[:] = frames[0]  # six identical clips: identical outputs iff they share crop and flip
    shared = crop_clips(frames, 20, np.random.default_rng(3), per_video=True)
    assert all(np.array_equal(clip, shared[0]) for clip in shared)
    one_each = [crop_clips(frames, 20, np.random.default_rng(seed)) for seed in range(8)]
    assert any(not np.array_equal(clips[0], clips[i]) for clips in one_each for i in range(6))


def test_the_epoch_ends_where_the_reference_ends_it():
    settings = {"clips_per_epoch": 100000, "batch_per_process": 22, "processes": 1}
    assert steps_per_epoch(settings, 30000) == 4547  # step 4546 is the first with 4546 x 22 > 100000
    assert 4546 * 22 > 100000 >= 4545 * 22
    assert steps_per_epoch({**settings, "batch_per_process": 11, "processes": 2}, 30000) == 4547
    assert steps_per_epoch(settings, 100) == 100
    assert steps_per_epoch({**settings, "clips_per_epoch": None}, 30000) == 30000


def test_batch_per_device_is_the_reference_dataparallel_batch():
    with pytest.raises(ZslbenchError):
        per_rank_batch(22, 4)
    assert per_rank_batch(22, 4, "device") == 22 and per_rank_batch(24, 4) == 6


def test_a_run_with_clips_per_epoch_stops_each_epoch_and_steps_the_lr_by_epochs(synth_dataset, tmp_path):
    sets = ("train.clips_per_epoch=10", "train.lr_milestones=[2]")  # batch 8: 10 // 8 + 2 = 3 steps
    protocol = load_protocol(str(synth_dataset.protocol), sets=sets)
    result = train(tiny_config(synth_dataset, tmp_path / "run", protocol=protocol, epochs=3, log_every=1))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [row for row in rows if not row.get("epoch_done")]
    assert result.steps == 9 and [row["epoch"] for row in steps] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert {row["steps"] for row in steps} == {3}
    lr = protocol.data["train"]["lr"]
    assert [row["lr"] for row in steps] == pytest.approx([lr] * 6 + [lr * 0.1] * 3)

    stopped = train(tiny_config(synth_dataset, tmp_path / "b", protocol=protocol, epochs=3, max_steps=4))
    assert stopped.stopped_early and stopped.epochs == 1
    resumed = train(tiny_config(synth_dataset, tmp_path / "b", protocol=protocol, epochs=3, resume=True))
    assert resumed.steps == 9
    a = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[name], b[name]) for name in a)


@pytest.mark.parametrize("base", BASES)
def test_reference_variants_state_the_reference_values_and_keep_the_base_numbers(base):
    protocol = load_protocol(f"{base}-reference")
    plain = load_protocol(base)
    assert protocol.data["published_as"] == base
    assert protocol.data["train"]["clips_per_epoch"] == 100000 and protocol.data["train"]["batch_per"] == "device"
    clips = protocol.data["clips"]
    assert (clips["train_position"], clips["test_position"]) == ("reference", "reference")
    resize = (clips["resize"], clips["resize_rounding"], clips["crop_rounding"])
    assert resize == ("torch_bilinear", "floor", "half_even") and clips["train_augment"] == "per_video"
    differing = ("name", "description", "published_as", "train", "clips")
    assert {k: v for k, v in protocol.data.items() if k not in differing} == {
        k: v for k, v in plain.data.items() if k not in differing
    }
    assert protocol.fingerprint != plain.fingerprint


def test_later_settings_at_their_old_values_keep_the_fingerprint(synth_dataset):
    plain = read_protocol(synth_dataset.protocol)
    neutral = read_protocol(synth_dataset.protocol, ["clips.resize=decoder", "train.batch_per=global"])
    moved = read_protocol(synth_dataset.protocol, ["clips.crop_rounding=half_even"])
    assert neutral.fingerprint == plain.fingerprint
    assert moved.fingerprint != plain.fingerprint
    assert "resize" not in identity_data(plain.data)["clips"]
    assert identity_data(moved.data)["clips"]["crop_rounding"] == "half_even"


def test_reference_positions_refuse_a_frame_stride(synth_dataset, tmp_path):
    with pytest.raises(ZslbenchError, match=r"^override clips\.frame_stride=2: clips\.test_position reference reads"):
        read_protocol(synth_dataset.protocol, ["clips.test_position=reference", "clips.frame_stride=2"])
    stride = tmp_path / "stride.yaml"
    stride.write_text("include: brattoli2020-k700-ucf-hmdb-reference\nname: s\nclips: {frame_stride: 2}\n")
    with pytest.raises(ZslbenchError, match=f"^{re.escape(str(stride))}: clips.train_position reference reads"):
        read_protocol(stride)
    with pytest.raises(ZslbenchError, match="one of spread, reference"):
        read_protocol(synth_dataset.protocol, ["clips.test_position=linear"])


def test_a_model_trains_and_evaluates_under_every_reference_clip_setting(synth_dataset, tmp_path):
    """The float path end to end: reference positions, torch resize (float clips), rounding, per-video
    augmentation with two clips per training video; the record names the protocol's fingerprint."""
    from zslbench.evaluation.run import EvalConfig, evaluate

    sets = (
        "clips.train_position=reference", "clips.test_position=reference", "clips.resize=torch_bilinear",
        "clips.resize_rounding=floor", "clips.crop_rounding=half_even", "clips.train_augment=per_video",
        "clips.train_clips=2", "published_as=brattoli2020-k700-ucf-hmdb",
    )  # fmt: skip
    protocol = load_protocol(str(synth_dataset.protocol), sets=sets)
    result = train(tiny_config(synth_dataset, tmp_path / "run", protocol=protocol))
    assert result.failures == 0 and result.steps == 6
    outcome = evaluate(
        EvalConfig(
            weights=tmp_path / "run",
            data={"synth-target": synth_dataset.root / "target.csv"},
            label="ref",
            results=tmp_path / "results",
        )
    )
    ((_, record),) = outcome.records
    assert record["protocol"]["fingerprint"] == protocol.fingerprint and record["data"]["complete"]
    assert record["protocol"]["resolved"]["clips"]["resize"] == "torch_bilinear"
    assert {row.compared_as for row in from_record(record)} == {"brattoli2020-k700-ucf-hmdb"}


def test_results_of_a_reference_variant_are_checked_against_its_base_published_numbers():
    published = [ref for ref in published_references() if ref.model == "e2e_r2plus1d"]
    ours = Observation(
        who="mine", model="e2e_r2plus1d", published=False, protocol="brattoli2020-k700-ucf-hmdb-reference",
        version=1, fingerprint="f" * 64, protocol_note="", dataset="ucf101", split="random_half", metric="top1",
        value=47.5, std=1.0, compliance="compliant", embedding="word2vec:GoogleNews-vectors-negative300.bin",
        source="", published_as="brattoli2020-k700-ucf-hmdb",
    )  # fmt: skip
    (row,) = [r for r in compare([ours], published) if r.ours is not None]
    assert (row.reference, row.status, row.who) == (48.0, "pass", "mine (brattoli2020-k700-ucf-hmdb-reference)")
    assert row.protocol == "brattoli2020-k700-ucf-hmdb@v1"
    plain = compare([Observation(**{**ours.__dict__, "published_as": ""})], published)
    assert plain == []  # without published_as its own name has no published numbers


def test_two_gloo_processes_take_the_whole_batch_each_with_batch_per_device(synth_dataset, tmp_path):
    """The reference's DataParallel batch: 8 videos on each of 2 processes, 16 per step, so its epoch
    of clips_per_epoch=1 ends after 1 // 16 + 2 = 2 steps (3 would be a full pass at 8 per process)."""
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
        "-m", "zslbench", "train", "--model", "e2e_r2plus1d", "--width", "0.125", "--epochs", "1",
        "--protocol", str(synth_dataset.protocol), "--data", f"synth-source={synth_dataset.root / 'source.csv'}",
        "--set", "train.batch_per=device", "--set", "train.clips_per_epoch=1", "--out", str(out), "--json",
    ]  # fmt: skip
    run = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout[run.stdout.index("{") :])
    assert result["steps"] == 2 and result["replica_hashes"][0] == result["replica_hashes"][1]
    settings = torch.load(out / "checkpoint.pt", weights_only=True)["settings"]
    assert (settings["batch_per"], settings["batch_per_process"], settings["processes"]) == ("device", 8, 2)


@pytest.mark.parametrize("name", ["test.avi", "test.mp4", "test_video_structuralize.mp4"])
def test_the_reference_test_clips_of_a_real_video_end_to_end(shared_dir, name):
    """All the reference's test-side settings on real files (../shared; test.avi is UCF101's 320x240
    mpeg4 AVI): every frame decoded by PyAV directly, the reference reader simulated, the stack resized
    with floored sizes and centre-cropped with Python's round; equal bit for bit."""
    import av

    path = shared_dir / "real_videos" / name
    with av.open(str(path)) as container:
        decoded = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    n, height, width = decoded.shape[:3]
    spec = ClipSpec(
        test_position="reference", resize="torch_bilinear", resize_rounding="floor", crop_rounding="half_even"
    )
    item = VideoClipDataset([VideoRecord(path, "a")], ["a"], spec, "test")[0]

    stack = torch.from_numpy(decoded[simulated_reference_read(n, 16, 25, [0] * 25)].reshape(-1, height, width, 3))
    size = (math.floor(height * (128 / min(height, width))), math.floor(width * (128 / min(height, width))))
    planes = torch.nn.functional.interpolate(
        stack.permute(3, 0, 1, 2).to(torch.float32) / 255, size=size, mode="bilinear", align_corners=False
    )
    top, left = round((size[0] - 112) / 2), round((size[1] - 112) / 2)
    expected = planes[:, :, top : top + 112, left : left + 112].permute(1, 2, 3, 0).reshape(25, 16, 112, 112, 3)
    assert torch.equal(item["clips"], expected)


def test_only_the_shipped_protocol_itself_is_compared_with_published_numbers(tmp_path):
    """A protocol that includes a -reference one inherits its published_as; it is compared, but as
    stale, naming what differs. The embedding alone is no difference here (it is compared on its own)."""
    from zslbench.reporting.observations import unlike_shipped

    name = "brattoli2020-k700-ucf-hmdb-reference"
    assert unlike_shipped(load_protocol(name).describe()) == ""
    word2vec = 'embedding.model="word2vec:/data/GoogleNews-vectors-negative300.bin"'
    assert unlike_shipped(load_protocol(name, sets=[word2vec]).describe()) == ""
    older = {**load_protocol(name).describe(), "fingerprint": "0" * 64}  # e.g. made with other class lists
    assert unlike_shipped(older).endswith("its class lists or word rules")
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"include: {name}\nname: {name}\ntrain: {{clips_per_epoch: 5000}}\n")
    changed = unlike_shipped(read_protocol(mine).describe())
    assert changed == f"protocol content differs from the shipped {name}: train.clips_per_epoch"
    renamed = read_protocol(mine, ["name=mine"]).describe()
    assert unlike_shipped(renamed) == "mine is not a shipped protocol"

    published = [ref for ref in published_references() if ref.model == "e2e_r2plus1d"]
    ours = Observation(
        who="mine", model="e2e_r2plus1d", published=False, protocol=name, version=1, fingerprint="f" * 64,
        protocol_note="", dataset="ucf101", split="random_half", metric="top1", value=48.0, std=1.0,
        compliance="compliant", embedding="word2vec:GoogleNews-vectors-negative300.bin", source="",
        published_as="brattoli2020-k700-ucf-hmdb", unshipped=changed,
    )  # fmt: skip
    (row,) = [r for r in compare([ours], published) if r.ours is not None]
    assert (row.status, row.reason) == ("stale", changed)
