"""Running a video model over a dataset: the protocol's test sampling, the feature cache, torchrun.

Every rank encodes its share of the videos the cache does not hold yet; the cache is where the shares
meet, and every rank reads the whole dataset back from it. An interrupted run resumes from what was
cached, and anything that changes an output (model, weights, sampling, decoder, video) is a miss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from zslbench.core.distributed import Context, barrier, gather
from zslbench.evaluation.feature_cache import FeatureCache, touch
from zslbench.text.vocab import ClassList
from zslbench.video.dataset import LoaderOptions
from zslbench.video.sampler import ClipSpec


def sampling_identity(clips: dict[str, Any], mean, std, decoder: str = "pyav") -> dict[str, Any]:
    """What besides the model's weights decides a video's output: clip sampling, decoder (with its
    library versions), normalisation, and the versions of the libraries that run the model."""
    from zslbench.core.versions import pick
    from zslbench.video.decode import decoder_identity
    from zslbench.video.sampler import SAMPLER_VERSION

    return {
        "sampling": {"clips": clips, "mode": "test", "sampler": SAMPLER_VERSION},
        "decoder": decoder_identity(decoder),
        "normalisation": {"mean": list(mean), "std": list(std)},
        "libraries": pick("torch", "numpy"),
    }


class VideoEncoder:
    """`module` maps clips [B, clips, 3, T, H, W] to vectors [B, D]; `identity` names it exactly."""

    def __init__(
        self,
        module: torch.nn.Module,
        identity: dict[str, Any],
        clips: ClipSpec,
        mean,
        std,
        context: Context,
        loading: LoaderOptions | None = None,
    ):
        self.module = module.to(context.device).eval()
        self.identity = identity
        self.clips, self.mean, self.std = clips, tuple(mean), tuple(std)
        self.context = context
        self.loading = loading or LoaderOptions()
        self.decoders: Counter[str] = Counter()  # how the videos of the last `encode` were read
        self.prepared: dict[str, Any] | None = None  # the `data prepare` settings of its manifest
        self.ignored: dict[str, Any] | None = None  # manifest rows the last `encode` left out, and why
        self.cache = FeatureCache.open(identity)
        touch(self.cache)

    def encode(
        self,
        class_list: ClassList,
        data: dict[str, Path],
        batch_size: int,
        workers: int,
        progress: Callable[[str, int, int], None] | None = None,
        limit: int | None = None,
    ):
        """(records, vector or None per record, failure reason per record index); all ranks call it.
        `limit`: only the first `limit` videos of the dataset's manifest (a quick look, not a result)."""
        from zslbench.evaluation.embed import iter_embeddings
        from zslbench.video.sources import select_videos

        selected = select_videos(class_list, data, self.loading.decoder, self.clips)
        manifest, self.ignored = selected.manifest, selected.ignored.describe()
        self.prepared = manifest.prepared
        records = list(manifest.records)[:limit]
        keys, failures = _keys(self.cache, records)
        todo = [i for i, key in enumerate(keys) if key is not None and self.cache.get(key) is None]
        mine = todo[self.context.rank :: self.context.world_size]
        batches = iter_embeddings(
            self.module,
            [records[i] for i in mine],
            class_list.classes,
            self.clips,
            self.mean,
            self.std,
            batch_size=batch_size,
            workers=workers,
            device=self.context.device,
            loading=self.loading,
        )
        done, decoders = 0, Counter()
        for batch in batches:
            for row, index in enumerate(batch.indices):
                self.cache.put(keys[mine[index]], batch.vectors[row])
            for failure in batch.failures:
                failures[mine[failure.index]] = failure.reason
            decoders.update(batch.decoders)
            done += len(batch.indices) + len(batch.failures)
            if progress and self.context.is_main:
                progress(class_list.name, min(done * self.context.world_size, len(todo)), len(todo))
        failures = {k: v for part in gather(self.context, failures) for k, v in part.items()}
        self.decoders = sum((Counter(part) for part in gather(self.context, dict(decoders))), Counter())
        barrier(self.context)
        vectors = [self.cache.get(key) if key is not None and i not in failures else None for i, key in enumerate(keys)]
        for i, vector in enumerate(vectors):
            if vector is None and i not in failures:
                failures[i] = "embedding missing after extraction"
        return records, vectors, failures

    def reading(self) -> dict[str, Any]:
        """For result records: the decoder, how many videos each read mode served (videos read in this
        run; cached ones were read before), and whether the data was prepared, and how."""
        return {"decoder": self.identity["decoder"], "videos_read": dict(self.decoders), "prepared": self.prepared}


def _keys(cache: FeatureCache, records) -> tuple[list[str | None], dict[int, str]]:
    """Each video's cache key, or its failure: a pipe, folder or missing file gets its own reason
    (and is never opened to hash, which would block on a pipe)."""
    from zslbench.core.files import file_problem

    keys, failures = [], {}
    for i, record in enumerate(records):
        problem = file_problem(record.path, allow_empty=True)  # an empty file: the decoder says so
        if problem is None:
            try:
                keys.append(cache.key(record.path))
                continue
            except OSError as err:
                problem = err.strerror or str(err)
        keys.append(None)
        failures[i] = f"cannot read: {problem}"
    return keys, failures
