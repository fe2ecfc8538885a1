"""Video-text models evaluated through the CLI on the synthetic benchmark, checked against transformers
called directly on the same frames (PyAV's own decode, the TSN segment formula, templates averaged by
hand), and the compliance tiers, fingerprints and refusals around them."""

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from cli_output import single_error_line
from video_text_models import write_tiny_tokenizer

from zslbench.cli import app
from zslbench.models.video_input import CLIP_MEAN, CLIP_STD

transformers = pytest.importorskip("transformers")

SIZE = 64  # the synthetic videos' short side: the model's input size, so no resize happens before the crop
TEMPLATES = ["a video of {}.", "{}, moving"]


def tiny_config(vocab: int, **vision):
    """A tiny CLIP (or X-CLIP vision) config at the synthetic videos' size."""
    text = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=77, bos_token_id=vocab - 2, eos_token_id=vocab - 1)  # fmt: skip
    sight = dict(image_size=SIZE, patch_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, **vision)  # fmt: skip
    return text, sight


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip") / "tiny-clip"
    folder.mkdir()
    write_tiny_tokenizer(folder)
    tokenizer = transformers.CLIPTokenizer.from_pretrained(folder)
    vocab = len(tokenizer)
    text, vision = tiny_config(vocab)
    torch.manual_seed(0)
    model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def xclip_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("xclip") / "tiny-xclip"
    folder.mkdir()
    write_tiny_tokenizer(folder)
    vocab = len(transformers.CLIPTokenizer.from_pretrained(folder))
    text, vision = tiny_config(vocab, num_frames=4, mit_hidden_size=32, mit_intermediate_size=64,
                               mit_num_hidden_layers=1, mit_num_attention_heads=4)  # fmt: skip
    config = transformers.XCLIPConfig(text_config=text, vision_config=vision, projection_dim=32, prompt_layers=1,
                                      prompt_attention_heads=4, prompt_num_attention_heads=4)  # fmt: skip
    torch.manual_seed(1)
    transformers.XCLIPModel(config).save_pretrained(folder)
    return folder


def run_eval(runner, synth, weights, results, *extra):
    data = f"synth-target={synth.root / 'target.csv'}"
    args = ["eval", "--weights", str(weights), "--protocol", str(synth.protocol), "--data", data,
            "--out", str(results), "--json", *extra]  # fmt: skip
    return runner.invoke(app, args)


def segment_frames(path: Path, frames: int) -> np.ndarray:
    """TSN test sampling written out by hand: PyAV decodes every frame, frame i of `frames` is the
    middle one of segment i; then the centre SIZE x SIZE crop. uint8 [frames, SIZE, SIZE, 3]."""
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    n = len(decoded)
    picked = [decoded[min(int(Fraction(n, frames) * (i + Fraction(1, 2))), n - 1)] for i in range(frames)]
    height, width = picked[0].shape[:2]
    top, left = (height - SIZE) // 2, (width - SIZE) // 2
    return np.stack([frame[top : top + SIZE, left : left + SIZE] for frame in picked])


def pixels(frames: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> CLIP's normalised float [T, 3, H, W]."""
    x = torch.from_numpy(frames).float().div(255).permute(0, 3, 1, 2)
    return (x - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)


def phrase(name: str) -> str:
    return name  # the synthetic class names are already natural phrases ("red circle rotating")


def samples(results: Path) -> list[dict]:
    (path,) = results.rglob("*.samples.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_distances(rows: list[dict], synth, expected_of) -> int:
    """Every scored video's top-5 distances equal the independent computation's; returns how many."""
    checked = 0
    for row in rows[:6]:
        expected = expected_of(synth.root / row["path"])  # an absolute path stays itself
        for entry in row["top5"]:
            assert entry["distance"] == pytest.approx(expected[entry["class"]], abs=1e-6)
        checked += 1
    return checked


def test_clip_frames_through_the_cli_equals_transformers_by_hand(runner, synth_dataset, clip_folder, tmp_path):
    done = run_eval(runner, synth_dataset, clip_folder, tmp_path / "results", "--model", "clip_frames",
                    "--option", f"templates={json.dumps(TEMPLATES)}", "--option", "ensemble=embedding",
                    "--image-text", "none", "--finetuned-on", "none", "--log-samples")  # fmt: skip
    assert done.exit_code == 0, done.stderr[-2000:]
    (record,) = json.loads(done.stdout)
    assert record["compliance"]["verdict"] == "compliant"
    assert record["card"]["input"]["frames"] == 8 and record["card"]["input"]["size"] == SIZE
    assert record["class_embeddings"]["source"] == "text_tower"
    assert record["class_embeddings"]["text"]["templates"] == TEMPLATES
    assert record["embedding"]["spec"] == "glove-6b-50d"  # the rule's embedding stays the protocol's

    model = transformers.CLIPModel.from_pretrained(clip_folder).eval()
    tokenizer = transformers.CLIPTokenizer.from_pretrained(clip_folder)
    classes = sorted({row["label"] for row in samples(tmp_path / "results")})
    with torch.no_grad():
        per_class = {}
        for name in classes:
            ids = tokenizer([t.format(phrase(name)) for t in TEMPLATES], padding=True, return_tensors="pt")
            texts = torch.nn.functional.normalize(model.get_text_features(**ids), dim=-1)
            per_class[name] = torch.nn.functional.normalize(texts.mean(0), dim=-1)

    def expected_of(path: Path) -> dict[str, float]:
        with torch.no_grad():
            frames = model.get_image_features(pixel_values=pixels(segment_frames(path, 8)))
            video = torch.nn.functional.normalize(frames.mean(0), dim=-1)  # ViFi-CLIP: the mean, then normalised
        return {name: float(1 - video @ vector) for name, vector in per_class.items()}

    assert check_distances(samples(tmp_path / "results"), synth_dataset, expected_of) == 6


def test_xclip_through_the_cli_equals_xclipmodel(runner, synth_dataset, xclip_folder, tmp_path):
    done = run_eval(runner, synth_dataset, xclip_folder, tmp_path / "results", "--image-text", "none",
                    "--finetuned-on", "none", "--log-samples")  # fmt: skip
    assert done.exit_code == 0, done.stderr[-2000:]
    (record,) = json.loads(done.stdout)
    assert record["model"]["name"] == "xclip" and record["class_embeddings"]["conditioned"] is True
    assert record["card"]["input"]["frames"] == 4

    model = transformers.XCLIPModel.from_pretrained(xclip_folder).eval()
    tokenizer = transformers.CLIPTokenizer.from_pretrained(xclip_folder)
    classes = sorted({row["label"] for row in samples(tmp_path / "results")})
    ids = tokenizer(classes, padding=True, return_tensors="pt")

    def expected_of(path: Path) -> dict[str, float]:
        with torch.no_grad():
            out = model(**ids, pixel_values=pixels(segment_frames(path, 4))[None])
            similarity = out.logits_per_video[0] / model.logit_scale.exp()
        return {name: float(1 - s) for name, s in zip(classes, similarity, strict=True)}

    assert check_distances(samples(tmp_path / "results"), synth_dataset, expected_of) == 6


@pytest.mark.parametrize(
    ("declared", "verdict"),
    [
        ([], "unknown"),
        (["--image-text", "OpenAI CLIP, 400M web image-text pairs", "--finetuned-on", "none"], "finetuning_compliant"),
        (["--image-text", "OpenAI CLIP", "--finetuned-on", "SOURCE"], "finetuning_compliant"),
        (["--image-text", "none", "--finetuned-on", "TARGET"], "not_compliant"),
    ],
)
def test_compliance_tiers(runner, synth_dataset, clip_folder, tmp_path, declared, verdict):
    lists = {"SOURCE": "synth-source.txt", "TARGET": "synth-target.txt"}
    declared = [str(synth_dataset.root / lists[d]) if d in lists else d for d in declared]
    done = run_eval(runner, synth_dataset, clip_folder, tmp_path / "r", "--model", "clip_frames", *declared)
    assert done.exit_code == 0, done.stderr[-2000:]
    (record,) = json.loads(done.stdout)
    assert record["compliance"]["verdict"] == verdict
    if verdict == "finetuning_compliant":
        assert "cannot be audited" in record["compliance"]["why"]


def test_templates_frames_and_views_move_the_card_and_the_cache(runner, synth_dataset, clip_folder, tmp_path):
    def card(*options):
        extra = [item for option in options for item in ("--option", option)]
        done = run_eval(runner, synth_dataset, clip_folder, tmp_path / "r", "--model", "clip_frames",
                        "--name", f"run{len(options)}{abs(hash(options))}", *extra)  # fmt: skip
        assert done.exit_code == 0, done.stderr[-2000:]
        (record,) = json.loads(done.stdout)
        return record["card"], record["model"]["identity"]

    base, identity = card()
    changed = {
        "template": card('templates=["a clip of {}."]'),
        "ensemble": card(f"templates={json.dumps(TEMPLATES)}", "ensemble=score"),
        "frames": card("frames=4"),
        "views": card("views=2"),
        "crops": card("crops=3"),
    }
    for what, (other, _) in changed.items():
        assert other["fingerprint"] != base["fingerprint"], what
    assert changed["frames"][1] != identity and changed["views"][1] != identity  # another feature-cache namespace
    assert changed["template"][0]["input_fingerprint"] == base["input_fingerprint"]  # texts only: same videos


def test_a_changed_template_is_never_a_cache_hit(clip_folder):
    from zslbench.evaluation.class_text_cache import text_key
    from zslbench.models.video_text.clip_frames import load_clip_frames

    model = load_clip_frames(clip_folder)
    identity = model.text_identity()
    assert text_key(identity, ["a video of red circle."]) != text_key(identity, ["a video of red circle!"])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--option", 'templates=["no slot"]'], "exactly one {}"),
        (["--option", "ensemble=median"], "ensemble"),
        (["--option", "frames=0"], "frames"),
        (["--option", "colour=1"], "no option 'colour'"),
        (["--option", "templates=yes"], "templates"),
        (["--option", "tokenizer=5"], "tokenizer"),
        (["--option", "stride=4"], "stride"),  # segments read one frame per segment: a stride would be ignored
    ],
)
def test_bad_video_text_options_are_one_line(runner, synth_dataset, clip_folder, tmp_path, options, expected):
    done = run_eval(runner, synth_dataset, clip_folder, tmp_path / "r", "--model", "clip_frames", *options)
    assert done.exit_code == 2
    assert expected in single_error_line(done)


def test_a_protocol_pin_the_model_cannot_read_is_refused(runner, synth_dataset, xclip_folder, tmp_path):
    done = run_eval(runner, synth_dataset, xclip_folder, tmp_path / "r", "--set", "model_input.frames=8")
    assert done.exit_code == 2
    assert "frames" in single_error_line(done)


def test_extract_then_eval_features_scores_like_eval(runner, synth_dataset, clip_folder, tmp_path):
    """A video-text features file carries its class embeddings: scored alone, it gives the very distances."""
    options = ["--model", "clip_frames", "--option", "templates=clip_ucf101", "--option", "ensemble=score",
               "--option", "views=2", "--image-text", "OpenAI CLIP", "--finetuned-on", "none"]  # fmt: skip
    direct = run_eval(runner, synth_dataset, clip_folder, tmp_path / "a", *options, "--log-samples")
    assert direct.exit_code == 0, direct.stderr[-2000:]
    data = f"synth-target={synth_dataset.root / 'target.csv'}"
    out = tmp_path / "clip.npz"
    extracted = runner.invoke(app, ["extract", "--weights", str(clip_folder), "--protocol", str(synth_dataset.protocol),
                                    "--data", data, "--out", str(out), *options])  # fmt: skip
    assert extracted.exit_code == 0, extracted.stderr[-2000:]
    scored = runner.invoke(app, ["eval", "--features", str(out), "--protocol", str(synth_dataset.protocol),
                                 "--out", str(tmp_path / "b"), "--log-samples", "--json"])  # fmt: skip
    assert scored.exit_code == 0, scored.stderr[-2000:]
    (a,), (b,) = json.loads(direct.stdout), json.loads(scored.stdout)
    assert a["metrics"] == b["metrics"] and a["card"] == b["card"]
    assert b["compliance"]["verdict"] == "finetuning_compliant"
    overlap = tmp_path / "overlap.txt"
    overlap.write_text("\n".join(sorted({row["label"] for row in samples(tmp_path / "a")})) + "\n")
    declared = runner.invoke(app, ["eval", "--features", str(out), "--protocol", str(synth_dataset.protocol),
                                   "--out", str(tmp_path / "c"), "--image-text", "none",
                                   "--finetuned-on", str(overlap), "--json"])  # fmt: skip
    assert declared.exit_code == 0, declared.stderr[-2000:]
    assert json.loads(declared.stdout)[0]["compliance"]["verdict"] == "not_compliant"  # declared now, not ignored
    options = runner.invoke(app, ["eval", "--features", str(out), "--protocol", str(synth_dataset.protocol),
                                  "--option", "frames=2"])  # fmt: skip
    assert options.exit_code == 2 and "features file" in single_error_line(options)
    by_path = {row["path"]: row["top5"] for row in samples(tmp_path / "a")}
    for row in samples(tmp_path / "b"):  # a features file keeps no paths: rows come in the same order
        assert row["top5"] == list(by_path.values())[row["index"]]


def test_check_calls_a_baseline_of_another_card_stale(runner, synth_dataset, clip_folder, tmp_path):
    results, baseline = tmp_path / "results", tmp_path / "baseline.json"
    first = run_eval(runner, synth_dataset, clip_folder, results, "--model", "clip_frames", "--name", "clip")
    assert first.exit_code == 0, first.stderr[-2000:]
    wrote = runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)])
    assert wrote.exit_code == 0, wrote.stderr
    for option in ("frames=4", "templates=video", "phrases=words"):  # input or text: never replaced silently
        same_name = run_eval(runner, synth_dataset, clip_folder, results, "--model", "clip_frames", "--name", "clip",
                             "--option", option)  # fmt: skip
        assert same_name.exit_code == 2 and "with card" in single_error_line(same_name), option
    again = run_eval(runner, synth_dataset, clip_folder, results, "--model", "clip_frames", "--name", "clip",
                     "--option", "frames=4", "--overwrite")  # fmt: skip
    assert again.exit_code == 0, again.stderr[-2000:]
    checked = runner.invoke(app, ["check", str(results), "--against", str(baseline), "--json"])
    rows = json.loads(checked.stdout)
    assert rows and all(row["status"] == "stale" and "card" in row["reason"] for row in rows), rows
