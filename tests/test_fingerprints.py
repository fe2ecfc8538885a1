"""Fingerprints hash every byte, are remembered per stat across processes, and caches name the library
versions that can change what they hold (issue 10, items 3 and 4).

Every file here is real: word2vec and GloVe files written in their own formats, videos written by
PyAV. The in-place edits land between the three 1 MiB windows the old sampled fingerprint read, so
each test of an edit fails on a sampled fingerprint.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import blake3
import numpy as np
import pytest

from tests.embedding_files import WORDS
from tests.video_files import index_frame, read_index
from zslbench.core.errors import ZslbenchError
from zslbench.core.hashing import RECENT_NS, file_fingerprint
from zslbench.evaluation.encoder import sampling_identity
from zslbench.evaluation.feature_cache import FeatureCache
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.fasttext_bin import FastTextEmbedder
from zslbench.text.vector_files import Word2VecEmbedder
from zslbench.text.vocab import ClassList
from zslbench.video.decode import Video, decoder_identity
from zslbench.video.manifest import Manifest, VideoRecord, write_manifest

MIB = 1 << 20
DIM = 300
TARGET = "guitar"  # the word whose vector is rewritten


def outside_old_samples(size: int, start: int, end: int) -> bool:
    """Whether bytes [start, end) miss the head, middle and tail MiB the sampled fingerprint hashed."""
    windows = [(0, MIB), (size // 2 - MIB // 2, size // 2 + MIB // 2), (size - MIB, size)]
    return all(end <= low or start >= high for low, high in windows)


def vector_file(fmt: str, vectors: dict[str, np.ndarray]) -> tuple[bytes, dict[str, int]]:
    """A word2vec binary or GloVe text file's bytes (fixed-width numbers, so a vector can be rewritten
    in place) and the byte offset of each word's vector."""
    parts = [f"{len(vectors)} {DIM}\n".encode()] if fmt == "word2vec" else []
    offsets, position = {}, sum(map(len, parts))
    for word, vector in vectors.items():
        head = word.encode() + b" "
        offsets[word] = position + len(head)
        parts.append(head + encode_vector(fmt, vector) + b"\n")
        position += len(parts[-1])
    return b"".join(parts), offsets


def encode_vector(fmt: str, vector: np.ndarray) -> bytes:
    if fmt == "word2vec":
        return np.asarray(vector, "<f4").tobytes()
    return " ".join(f"{x:+.5f}" for x in vector).encode()


def vocabulary(seed: int = 0) -> dict[str, np.ndarray]:
    """~4.5 MB of vectors with TARGET's record about 1.2 MB in: after the head MiB, before the middle."""
    rng = np.random.default_rng(seed)
    words = [f"w{i:05d}" for i in range(3800)]
    words[900:900] = WORDS
    return {word: rng.uniform(-0.9, 0.9, DIM).astype(np.float32) for word in words}


def write_raw_video(path: Path, numbers: list[int], width: int = 320, height: int = 240) -> Path:
    """A PyAV-written AVI of uncompressed frames that spell `numbers`: every frame has the same byte
    size, so two videos that differ in some frames have the same size."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("rawvideo", rate=12)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for number in numbers:
            frame = av.VideoFrame.from_ndarray(index_frame(number, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


FRAMES = list(range(40))  # 4.6 MB at 320x240
EDITED = [99 if i == 12 else i for i in FRAMES]  # frame 12 lies about 1.4 MB in


def rewrite_in_place(path: Path, data: bytes, offset: int = 0) -> None:
    """Overwrite bytes without changing the size, then set the mtime back: only the ctime tells."""
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns


@pytest.fixture(scope="module")
def aged(tmp_path_factory) -> Path:
    """Files older than RECENT_NS, so their fingerprints are remembered (written once, one wait)."""
    folder = tmp_path_factory.mktemp("aged")
    for fmt in ("word2vec", "glove"):
        (folder / f"vectors.{fmt}").write_bytes(vector_file(fmt, vocabulary())[0])
    write_raw_video(folder / "a.avi", FRAMES)
    write_raw_video(folder / "memo.avi", FRAMES)
    for i in range(40):
        (folder / f"small{i}.bin").write_bytes(os.urandom(1000 + i))
    time.sleep(RECENT_NS / 1e9 + 0.2)
    return folder


def fingerprint_elsewhere(path: Path, cache: Path) -> str:
    """The fingerprint a fresh process computes (nothing of this process's memory)."""
    code = "import sys; from zslbench.core.hashing import file_fingerprint; print(file_fingerprint(sys.argv[1]))"
    env = {**os.environ, "ZSLBENCH_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def memo_rows(cache: Path) -> dict[str, tuple[str, str]]:
    rows = {}
    for file in (cache / "fingerprints").glob("*.sqlite"):
        with sqlite3.connect(file) as db:
            rows.update({path: (state, fp) for path, state, fp in db.execute("SELECT * FROM fingerprints")})
    return rows


# --- item 3: the whole content, remembered safely ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["word2vec", "glove"])
def test_a_vector_rewritten_in_place_is_never_served_from_the_class_vector_cache(aged, fresh_cache, fmt):
    path = aged / f"vectors.{fmt}"  # old enough to be remembered, as a downloaded file is
    vectors = vocabulary()
    classes = [ClassList("mine", (TARGET, "ski"), "test")]
    before = load_embedder(f"{fmt}:{path}")
    first = embed_class_lists(classes, before)[0]
    assert np.allclose(first.vectors[0], vectors[TARGET] / np.linalg.norm(vectors[TARGET]), atol=1e-5)

    new = np.random.default_rng(7).uniform(-0.9, 0.9, DIM).astype(np.float32)
    body, start = encode_vector(fmt, new), vector_file(fmt, vectors)[1][TARGET]
    assert outside_old_samples(path.stat().st_size, start, start + len(body))
    rewrite_in_place(path, body, start)

    after = load_embedder(f"{fmt}:{path}")  # same process: the remembered fingerprint must not stand
    second = embed_class_lists(classes, after)[0]
    assert np.allclose(second.vectors[0], new / np.linalg.norm(new), atol=1e-5)  # the new vector, not the old
    assert after.id != before.id


def test_same_size_videos_that_differ_in_some_frames_get_different_keys(tmp_path):
    a, b = write_raw_video(tmp_path / "a.avi", FRAMES), write_raw_video(tmp_path / "b.avi", EDITED)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    differ = np.flatnonzero(np.frombuffer(data_a, np.uint8) != np.frombuffer(data_b, np.uint8))
    assert len(data_a) == len(data_b) and outside_old_samples(len(data_a), differ[0], differ[-1] + 1)
    assert [read_index(Video(p).read(np.array([12]))[0]) for p in (a, b)] == [12, 99]

    cache = FeatureCache.open({"model": "any"}, tmp_path / "features")
    assert cache.key(a) != cache.key(b)
    assert file_fingerprint(a) == f"{len(data_a)}-{blake3.blake3(data_a).hexdigest()}"


def test_a_remembered_fingerprint_follows_an_in_place_edit_in_this_process_and_others(aged, fresh_cache):
    video = aged / "memo.avi"
    data = video.read_bytes()
    first = file_fingerprint(video)
    assert first == f"{len(data)}-{blake3.blake3(data).hexdigest()}"
    assert memo_rows(fresh_cache)[str(video)][1] == first  # remembered on disk
    assert fingerprint_elsewhere(video, fresh_cache) == first

    with sqlite3.connect(next((fresh_cache / "fingerprints").glob("*.sqlite"))) as db:
        db.execute("UPDATE fingerprints SET fingerprint = 'remembered' WHERE path = ?", (str(video),))
    assert fingerprint_elsewhere(video, fresh_cache) == "remembered"  # a new process did not read the file

    edited = write_raw_video(aged / "edited.avi", EDITED).read_bytes()
    rewrite_in_place(video, edited)  # same size, same mtime, same inode: only the ctime moved
    expected = f"{len(edited)}-{blake3.blake3(edited).hexdigest()}"
    assert file_fingerprint(video) == expected
    assert fingerprint_elsewhere(video, fresh_cache) == expected


def test_a_file_changed_moments_ago_is_hashed_but_not_remembered(tmp_path, fresh_cache):
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"x" * 5000)
    assert file_fingerprint(path) == fingerprint_elsewhere(path, fresh_cache)
    assert str(path) not in memo_rows(fresh_cache)  # a second write in the same clock tick would share its stat


def test_many_processes_share_the_memo_at_once(aged, fresh_cache):
    files = sorted(aged.glob("small*.bin"))
    code = (
        "import sys; from zslbench.core.hashing import file_fingerprint; "
        "print(*(file_fingerprint(p) for p in sys.argv[1:]), sep='\\n')"
    )
    env = {**os.environ, "ZSLBENCH_CACHE": str(fresh_cache)}
    runs = [
        subprocess.Popen([sys.executable, "-c", code, *map(str, files)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [run.communicate()[0].split() for run in runs]
    expected = [f"{p.stat().st_size}-{blake3.blake3(p.read_bytes()).hexdigest()}" for p in files]
    assert all(output == expected for output in outputs) and all(run.returncode == 0 for run in runs)
    remembered = {path: fp for path, (_, fp) in memo_rows(fresh_cache).items()}
    assert remembered == dict(zip(map(str, files), expected, strict=True))


def test_a_corrupt_or_unusable_memo_costs_a_hash_not_a_run(aged, fresh_cache, tmp_path, monkeypatch):
    path = aged / "small0.bin"
    expected = fingerprint_elsewhere(path, fresh_cache)
    for file in (fresh_cache / "fingerprints").iterdir():
        file.write_bytes(b"not a database" * 100)
    assert fingerprint_elsewhere(path, fresh_cache) == expected
    assert memo_rows(fresh_cache)[str(path)][1] == expected  # replaced by a working one
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache folder is a file: nothing can be written under it")
    monkeypatch.setenv("ZSLBENCH_CACHE", str(blocked))
    assert fingerprint_elsewhere(aged / "small1.bin", blocked) == file_fingerprint(aged / "small1.bin")


def test_a_prepared_source_edited_in_place_is_prepared_again(tmp_path):
    from zslbench.video.prepare import prepare_manifest

    source = write_raw_video(tmp_path / "data" / "v.avi", FRAMES)
    manifest = write_manifest(Manifest((VideoRecord(source, "a", "test"),), "ucf101"), tmp_path / "data" / "m.csv")
    first = prepare_manifest(manifest, tmp_path / "out", short_side=64)
    assert first.count("prepared") == 1
    rewrite_in_place(source, write_raw_video(tmp_path / "edited.avi", EDITED).read_bytes())
    again = prepare_manifest(manifest, tmp_path / "out", short_side=64)
    assert again.count("prepared") == 1  # not "skipped" with the old frames
    assert read_index(Video(tmp_path / "out" / "v.mp4", threads=1).read(np.array([12]))[0]) == 99


def test_a_verified_video_edited_in_place_must_be_verified_again(tmp_path):
    pytest.importorskip("decord")
    from zslbench.video.verify import require_verified, verify_decoder

    video = write_raw_video(tmp_path / "v.avi", FRAMES)
    manifest = write_manifest(Manifest((VideoRecord(video, "a", "test"),), "ucf101"), tmp_path / "m.csv")
    assert verify_decoder(manifest, "decord").verified
    require_verified(manifest, "decord")
    rewrite_in_place(video, write_raw_video(tmp_path / "edited.avi", EDITED).read_bytes())
    with pytest.raises(ZslbenchError, match="changed since the decord decoder was verified"):
        require_verified(manifest, "decord")


def test_a_pipe_is_still_refused_without_opening_it(tmp_path):
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file") as err:
        file_fingerprint(pipe)
    assert err.value.errno == 22  # EINVAL, as before


# --- item 4: versions in cache keys and records -----------------------------------------------------


def installed_pixel_versions() -> dict[str, str]:
    import av

    libraries = {name: ".".join(map(str, av.library_versions[name])) for name in ("libavcodec", "libswscale")}
    return {"av": av.__version__, **libraries, "libavformat": ".".join(map(str, av.library_versions["libavformat"]))}


def test_the_feature_cache_is_keyed_by_the_decoder_and_model_library_versions(tmp_path):
    import torch

    identity = sampling_identity({"clips": 25, "frames": 16}, (0.4, 0.4, 0.4), (0.2, 0.2, 0.2))
    assert installed_pixel_versions().items() <= identity["decoder"].items()
    assert identity["libraries"]["torch"] == torch.__version__ and identity["libraries"]["numpy"] == np.__version__
    other_swscale = {**identity, "decoder": {**identity["decoder"], "libswscale": "5.9.100"}}  # PyAV 12's
    assert FeatureCache.open(identity, tmp_path).namespace != FeatureCache.open(other_swscale, tmp_path).namespace


def test_the_decord_reader_is_keyed_by_decords_version():
    decord = pytest.importorskip("decord")
    identity = decoder_identity("decord")
    assert identity["decord"] == decord.__version__ and installed_pixel_versions().items() <= identity.items()


def test_result_records_carry_every_version_that_can_move_a_number():
    import torch

    from zslbench.evaluation.records import environment

    versions = environment()["versions"]
    assert installed_pixel_versions().items() <= versions.items()
    assert versions["torch"] == torch.__version__ and versions["numpy"] == np.__version__
    assert versions["fasttext"] and versions["blake3"] and versions["zslbench"] and versions["python"]
    json.dumps(versions)  # plain strings and None


class FastTextComputed(Word2VecEmbedder):
    """A real word2vec reader whose vectors a plugin computes with fastText: its libraries differ."""

    libraries = ("numpy", "fasttext")


def test_class_vectors_are_keyed_by_the_libraries_that_compute_them(tmp_path, fresh_cache):
    path = tmp_path / "w.bin"
    path.write_bytes(
        vector_file("word2vec", {word: np.full(DIM, i + 1.0, np.float32) for i, word in enumerate(WORDS)})[0]
    )
    classes = [ClassList("mine", ("guitar",), "test")]
    embed_class_lists(classes, load_embedder(f"word2vec:{path}"))
    assert len(list((fresh_cache / "class_vectors").glob("*.npz"))) == 1
    embedder = FastTextComputed(str(path))
    assert embedder.id == load_embedder(f"word2vec:{path}").id  # the same file...
    embed_class_lists(classes, embedder)
    assert len(list((fresh_cache / "class_vectors").glob("*.npz"))) == 2  # ...computed by other libraries
    assert "fasttext" in FastTextEmbedder.libraries  # fastText computes every vector it returns


def test_feature_cache_sampling_keeps_old_keys_and_moves_with_test_crops_and_segments():
    """A feature cache made before `test_crops` existed stays valid; a 3-crop or TSN-segment test read
    never meets a 1-crop one in the cache."""
    from dataclasses import asdict, replace

    from zslbench.core.hashing import sha256_json
    from zslbench.protocol.spec import identity_data
    from zslbench.video.sampler import ClipSpec

    def key(clips: dict) -> str:
        return sha256_json(sampling_identity(identity_data({"clips": clips})["clips"], (0.5,) * 3, (0.25,) * 3))

    spec = ClipSpec()
    before = {name: value for name, value in asdict(spec).items() if name != "test_crops"}
    assert key(asdict(spec)) == key(before)
    moved = [replace(spec, test_crops=3), replace(spec, test_position="segments"), replace(spec, clip_len=8)]
    assert len({key(asdict(other)) for other in moved} | {key(asdict(spec))}) == 4
