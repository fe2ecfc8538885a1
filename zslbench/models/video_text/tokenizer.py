"""CLIP's tokenizer from a folder of its files, and the hash of those files.

The tokenizer decides the token ids the text tower reads, so its files' bytes are part of every text
identity (`tokenizer_sha256`): two folders with the same weights but another vocabulary or special
tokens must not share class embeddings. transformers' fast CLIP tokenizer is used (built from
tokenizer.json, or converted from vocab.json + merges.txt), whichever files a folder has.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError, named
from zslbench.core.files import file_problem, read_regular_bytes
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
NAMES = "vocab.json + merges.txt, or tokenizer.json"
TOKENIZER_OPTION = named("--option tokenizer=DIR", "the option tokenizer=DIR")  # as hints name it
HINT_OPTION = f"pass {TOKENIZER_OPTION}, a folder with CLIP's tokenizer files ({NAMES}), e.g. the base CLIP's HF folder"
HINT_GIVEN = f"{TOKENIZER_OPTION} must name a folder holding CLIP's tokenizer files, e.g. the base CLIP's HF folder"
HINT_PUT = f"put the model's tokenizer files ({NAMES}) into the folder (save_pretrained writes them)"
HINT_DAMAGED = "the file is damaged: copy it again from the model's HF folder (save_pretrained writes it)"


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
        """JSON for identities: the files' hash, the class, the context length and the settings the
        token ids depend on that transformers may set apart from the files (no paths)."""
        tokenizer = self.tokenizer
        settings = {
            "padding_side": getattr(tokenizer, "padding_side", None),
            "truncation_side": getattr(tokenizer, "truncation_side", None),
            "tokens": len(tokenizer),
            **{
                f"{name}_id": getattr(tokenizer, f"{name}_id", None) for name in ("bos_token", "eos_token", "pad_token")
            },
            "unk_token_id": getattr(tokenizer, "unk_token_id", None),
        }
        return {
            "sha256": self.sha256,
            "class": type(tokenizer).__name__,
            "max_length": self.max_length,
            "settings": settings,
        }


def has_tokenizer(folder: Path) -> bool:
    """Whether `folder` holds CLIP tokenizer files (tokenizer.json, or vocab.json with merges.txt)."""
    return (folder / "tokenizer.json").is_file() or (
        (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    )


def tokenizer_folder(value: Any) -> Path | None:
    """The tokenizer option as an existing folder (None: not given). It may come from the command line
    (`--option tokenizer=5` arrives as a number, `--option tokenizer=true` as a boolean), so its type
    is checked here rather than failing as a TypeError inside Path."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ZslbenchError(f"tokenizer {value!r} is not a folder path", HINT_OPTION)
    folder = Path(value)
    if not folder.exists():
        raise ZslbenchError(f"tokenizer folder {folder} does not exist", HINT_GIVEN)
    if not folder.is_dir():
        raise ZslbenchError(f"tokenizer {folder} is not a folder", HINT_GIVEN)
    return folder


def require_tokenizer(folder: Path, given: bool, hint: str = HINT_PUT) -> None:
    """`folder` holds CLIP tokenizer files, or one line: for a folder the user named (`given`), that it
    holds none; for a model's own folder, `hint` says what the model lets the user do about it."""
    if has_tokenizer(folder):
        return
    if given:
        raise ZslbenchError(f"tokenizer folder {folder} holds no CLIP tokenizer files ({NAMES})", HINT_GIVEN)
    raise ZslbenchError(f"{folder} has no CLIP tokenizer files ({NAMES})", hint)


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

    require_tokenizer(folder, given=True)
    check_files(folder)
    sha256 = files_sha256(folder)
    try:
        with quiet_transformers():
            tokenizer = CLIPTokenizerFast.from_pretrained(str(folder), local_files_only=True, **own_files(folder))
    except Exception as err:
        raise ZslbenchError(
            f"cannot read the tokenizer in {folder}: {type(err).__name__}: {first_line(err)}", HINT_OPTION
        ) from None
    if len(tokenizer) > vocab_size:
        raise ZslbenchError(
            f"the tokenizer in {folder} has {len(tokenizer)} tokens, the text tower only {vocab_size}",
            "the tokenizer belongs to another model; " + HINT_OPTION,
        )
    return ClipTokenizer(tokenizer, max_length, sha256)


def check_files(folder: Path) -> None:
    """Every tokenizer file of `folder` readable and of the right kind, checked here because a damaged
    one makes transformers fall back to other converters and report something unrelated (e.g. that
    the protobuf library is missing): JSON files are JSON objects, vocab.json maps tokens to ids,
    merges.txt is UTF-8 text."""
    for name in FILES:
        path = folder / name
        if not (path.exists() or path.is_symlink()):
            continue
        problem = file_problem(path, allow_empty=name == "added_tokens.json")
        if problem is None and path.stat().st_size > MAX_FILE_BYTES:
            problem = f"{path.stat().st_size} bytes, more than a tokenizer file holds"
        if problem:
            raise ZslbenchError(f"tokenizer file {path}: {problem}", HINT_DAMAGED)
        problem = _content_problem(name, read_regular_bytes(path))
        if problem:
            raise ZslbenchError(f"tokenizer file {path} {problem}", HINT_DAMAGED)


def _content_problem(name: str, data: bytes) -> str | None:
    """Why a tokenizer file's bytes are not what its name promises, or None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"is not UTF-8 text ({err.reason} at byte {err.start})"
    if not name.endswith(".json") or (name == "added_tokens.json" and not text.strip()):  # merges.txt
        return None
    try:
        content = json.loads(text)
    except ValueError as err:
        return f"is not JSON: {err}"
    if not isinstance(content, dict):
        return f"holds a JSON {type(content).__name__}, not an object"
    if name == "vocab.json":
        bad = next((k for k, v in content.items() if not isinstance(v, int) or isinstance(v, bool)), None)
        if bad is not None:
            return f"maps {bad!r} to {content[bad]!r}, not to a token id"
    return None
