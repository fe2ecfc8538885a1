"""CLIP's tokenizer from a folder of its files, and the hash of those files.

The tokenizer decides the token ids the text tower reads, so its files' bytes are part of every text
identity (`tokenizer_sha256`): two folders with the same weights but another vocabulary or special
tokens must not share class embeddings. transformers' fast CLIP tokenizer is used (built from
tokenizer.json, or converted from vocab.json + merges.txt), whichever files a folder has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError
from zslbench.core.files import file_problem
from zslbench.core.hashing import sha256_json

# Every file CLIPTokenizerFast.from_pretrained reads; all that exist are hashed.
FILES = (
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
MAX_FILE_BYTES = 64 << 20  # CLIP's tokenizer.json is ~2 MB
HINT = "pass tokenizer=DIR, a folder with CLIP's tokenizer files (e.g. the HF folder of the base CLIP model)"


@dataclass(frozen=True)
class ClipTokenizer:
    """A loaded tokenizer, what it pads and cuts to, and the hash of the files it came from."""

    tokenizer: Any
    max_length: int
    sha256: str

    def __call__(self, texts: list[str]) -> dict[str, Any]:
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).data

    def describe(self) -> dict[str, Any]:
        """JSON for identities: the files' hash, the class, the context length (no paths)."""
        return {"sha256": self.sha256, "class": type(self.tokenizer).__name__, "max_length": self.max_length}


def has_tokenizer(folder: Path) -> bool:
    """Whether `folder` holds CLIP tokenizer files (tokenizer.json, or vocab.json with merges.txt)."""
    return (folder / "tokenizer.json").is_file() or (
        (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    )


def own_files(folder: Path) -> dict[str, str | None]:
    """The vocabulary files as arguments, so that a tokenizer_config.json naming files elsewhere is overruled."""
    names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": "tokenizer.json"}
    return {arg: str(folder / name) if (folder / name).is_file() else None for arg, name in names.items()}


def files_sha256(folder: Path) -> str:
    """The sha256 of the tokenizer files' bytes (every file of FILES that exists, by name)."""
    from zslbench.models.checkpoint import file_sha256

    return sha256_json({name: file_sha256(folder / name) for name in FILES if (folder / name).exists()})


def load_tokenizer(folder: Path, max_length: int, vocab_size: int) -> ClipTokenizer:
    """The CLIP tokenizer in `folder`, cutting to `max_length` tokens; its ids must fit `vocab_size`
    (the text tower's embedding rows). Missing or unreadable files are one line."""
    from transformers import CLIPTokenizerFast

    from zslbench.models.video_text.hf_config import first_line, quiet_transformers

    if not has_tokenizer(folder):
        raise ZslbenchError(
            f"{folder} has no CLIP tokenizer files (tokenizer.json, or vocab.json and merges.txt)", HINT
        )
    for name in FILES:
        path = folder / name
        if path.exists() or path.is_symlink():
            problem = file_problem(path, allow_empty=name == "added_tokens.json")
            if problem is None and path.stat().st_size > MAX_FILE_BYTES:
                problem = f"{path.stat().st_size} bytes, more than a tokenizer file holds"
            if problem:
                raise ZslbenchError(f"tokenizer file {path}: {problem}", HINT)
    sha256 = files_sha256(folder)
    try:
        with quiet_transformers():
            tokenizer = CLIPTokenizerFast.from_pretrained(str(folder), local_files_only=True, **own_files(folder))
    except Exception as err:
        raise ZslbenchError(
            f"cannot read the tokenizer in {folder}: {type(err).__name__}: {first_line(err)}", HINT
        ) from None
    if len(tokenizer) > vocab_size:
        raise ZslbenchError(
            f"the tokenizer in {folder} has {len(tokenizer)} tokens, the text tower only {vocab_size}",
            "the tokenizer belongs to another model; " + HINT,
        )
    return ClipTokenizer(tokenizer, max_length, sha256)
