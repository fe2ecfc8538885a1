"""Text embedders: class names -> vectors. Pick one with a spec string such as `glove-6b-50d`,
`fasttext:cc.en.300.bin`, `word2vec:GoogleNews-vectors-negative300.bin`, `glove:glove.840B.300d.txt`,
`sentence:minilm` or `clip:PATH` (a CLIP text tower). Third-party embedders register through the
`zslbench.embeddings` entry points.
"""

from __future__ import annotations

from zslbench.core.errors import ZslbenchError, unknown_name_error
from zslbench.core.registry import Registry
from zslbench.text.base import PhraseVectors, TextEmbedder

DEFAULT_EMBEDDING = "glove-6b-50d"

EMBEDDERS: Registry[type[TextEmbedder]] = Registry("embedding", entry_point_group="zslbench.embeddings")
EMBEDDERS.add(
    "glove-6b-50d",
    "zslbench.text.packaged_glove:PackagedGlove",
    usage="glove-6b-50d",
    summary="GloVe 6B, 400k words x 50-d, shipped offline (the default)",
)
EMBEDDERS.add(
    "fasttext",
    "zslbench.text.fasttext_bin:FastTextEmbedder",
    usage="fasttext:PATH",
    summary="fastText .bin model (e.g. cc.en.300.bin); subwords, so no word is out of vocabulary",
)
EMBEDDERS.add(
    "word2vec",
    "zslbench.text.vector_files:Word2VecEmbedder",
    usage="word2vec:PATH",
    summary="word2vec binary or text file (e.g. GoogleNews-vectors-negative300.bin, the paper's)",
)
EMBEDDERS.add(
    "glove",
    "zslbench.text.vector_files:GloveTextEmbedder",
    usage="glove:PATH",
    summary="GloVe text file (e.g. glove.840B.300d.txt)",
)
EMBEDDERS.add(
    "sentence",
    "zslbench.text.sentence:SentenceEmbedder",
    usage="sentence:minilm",
    summary="all-MiniLM-L6-v2 sentence embedding of the phrase (extra: zslbench[sentence])",
)
EMBEDDERS.add(
    "clip",
    "zslbench.models.video_text.clip_text:ClipTextEmbedder",
    usage="clip:PATH",
    summary="a CLIP text tower (HF CLIP folder or OpenAI state dict) on the phrase (extra: zslbench[video-text])",
)


def parse_spec(spec: str) -> tuple[str, str]:
    """'fasttext:/data/cc.bin' -> ('fasttext', '/data/cc.bin'); 'glove-6b-50d' -> ('glove-6b-50d', '')."""
    kind, _, arg = spec.strip().partition(":")
    if kind not in EMBEDDERS:
        hint = None
        if "/" in spec or spec.endswith((".bin", ".txt", ".vec")):
            hint = "prefix a file with its format: fasttext:PATH, word2vec:PATH or glove:PATH"
        raise unknown_name_error("embedding", kind, EMBEDDERS.names(), hint)
    return kind, arg


def load_embedder(spec: str, word_norm: bool = True) -> TextEmbedder:
    """Construct the embedder a spec names. Cheap: vectors are read only when first needed."""
    kind, arg = parse_spec(spec)
    factory = EMBEDDERS.get(kind)
    try:
        return factory(arg, word_norm=word_norm)
    except TypeError as err:
        raise ZslbenchError(
            f"embedding {kind!r} cannot be built from {spec!r}: {err}", "see `zslbench embeddings`"
        ) from None


__all__ = ["DEFAULT_EMBEDDING", "EMBEDDERS", "PhraseVectors", "TextEmbedder", "load_embedder", "parse_spec"]
