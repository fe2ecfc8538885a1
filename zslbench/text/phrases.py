"""Turning a class name into the words whose vectors represent it.

One rule serves every dataset and reproduces the reference implementation's per-dataset rules
(Brattoli et al. 2020): UCF101's CamelCase and HMDB51's underscores split, Kinetics' and
ActivityNet's stop words and "(not ...)" qualifiers dropped, parentheses stripped, -ing verbs
lemmatised (playing -> play). A stop word goes also when it is a lemma ("doing" -> "do"). Names
the rule handles badly are listed, with their words, in class_lists/overrides.yaml; a user adds
their own in ~/.config/zslbench/overrides.yaml (or $ZSLBENCH_OVERRIDES).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from zslbench.core.atomic import write_text
from zslbench.core.errors import ZslbenchError
from zslbench.core.hashing import sha256_json
from zslbench.core.paths import cache_dir, config_dir, data_dir

Phrase = tuple[str, ...]

# The reference implementation's stop words (auxiliary_word2vec.py), applied to every dataset.
STOP_WORDS = frozenset({"a", "an", "and", "at", "do", "in", "of", "on", "or", "the", "using", "with"})
RULES_VERSION = 1  # bump when the rule below changes the words of any name

_NOT_QUALIFIER = re.compile(r"\(\s*not\b[^)]*\)?", re.IGNORECASE)
_POSSESSIVE = re.compile(r"'s\b")
_SEPARATORS = re.compile(r"[\s_\-/()'\",.:;!?&+]+")
# An acronym (BMX), a capitalised or lower-case word, or a number: splits CamelCase.
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


OVERRIDES_FILE = "overrides.yaml"


@dataclass(frozen=True)
class Overrides:
    """Class name -> the exact words to embed, read from a YAML file (`path`: where to add more)."""

    path: Path
    words: Mapping[str, Phrase]

    @cached_property
    def sha256(self) -> str:
        """Hash of the name -> words table, so a changed override changes every cache key that includes it."""
        return sha256_json({name: list(words) for name, words in self.words.items()})


def user_overrides_path() -> Path:
    """The user's own overrides file: $ZSLBENCH_OVERRIDES, else `overrides.yaml` in the config folder."""
    named = os.environ.get("ZSLBENCH_OVERRIDES")
    return Path(named) if named else config_dir() / OVERRIDES_FILE


def default_overrides() -> Overrides:
    """The packaged overrides, and over them the user's file when there is one (its entries win).

    Unknown words can then be fixed without editing the installed package. Whatever is used is in
    every protocol's fingerprint (`Protocol.fingerprint` hashes these words), so results made with
    the user's overrides never pass for results made without them.
    """
    user = user_overrides_path()
    try:
        stamp = user.stat()
    except FileNotFoundError:
        if "ZSLBENCH_OVERRIDES" in os.environ:
            raise ZslbenchError(
                f"ZSLBENCH_OVERRIDES names {user}, which does not exist", "create it, or unset ZSLBENCH_OVERRIDES"
            ) from None
        return _overrides(str(user), None)
    return _overrides(str(user), (stamp.st_mtime_ns, stamp.st_size))


@cache
def _overrides(user: str, version: tuple[int, int] | None) -> Overrides:
    """Packaged overrides merged with the user's file (`version` None: there is none); memoised per
    version of that file."""
    packaged = load_overrides(data_dir("class_lists") / OVERRIDES_FILE)
    if version is None:
        return Overrides(Path(user), packaged.words)
    mine = load_overrides(Path(user))
    return Overrides(mine.path, {**packaged.words, **mine.words})


def load_overrides(path: Path) -> Overrides:
    """Read an overrides YAML file (`class name: [word, word]`) as `Overrides`.

    Raises ZslbenchError for an unreadable file or bad YAML, a top level that is not a mapping, or an
    entry that is not a non-empty list of non-blank words."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ZslbenchError(
            f"cannot read overrides file {path}: {err}", "fix the YAML: `class name: [word, word]`"
        ) from None
    if not isinstance(data, dict):
        raise ZslbenchError(f"overrides file {path} must map class names to word lists", "e.g. `Skijet: [jet, ski]`")
    words: dict[str, Phrase] = {}
    for name, value in data.items():
        if not (isinstance(value, list) and value and all(isinstance(w, str) and w.strip() for w in value)):
            raise ZslbenchError(
                f"overrides file {path}: entry {name!r} must be a non-empty list of words", "e.g. `Skijet: [jet, ski]`"
            )
        words[str(name)] = tuple(w.strip() for w in value)
    return Overrides(path, words)


def class_words(name: str, overrides: Overrides | None = None) -> Phrase:
    """The words to embed for one class name."""
    overrides = overrides or default_overrides()
    if name in overrides.words:
        return overrides.words[name]
    tokens = name_tokens(name)
    lemmas = ((token, _lemmatise(token)) for token in tokens)
    words = tuple(lemma for token, lemma in lemmas if token not in STOP_WORDS and lemma not in STOP_WORDS)
    if not words:
        raise ZslbenchError(
            f"class {name!r} has no words left after stop-word removal",
            f"add `{name}: [word, ...]` to {overrides.path}",
        )
    return words


def name_tokens(name: str) -> list[str]:
    """A class name's lower-case words before stop words and lemmas: CamelCase, underscores, spaces and
    hyphens split, a "(not ...)" qualifier and "'s" dropped."""
    text = _POSSESSIVE.sub("", _NOT_QUALIFIER.sub(" ", name))
    return [part.lower() for chunk in _SEPARATORS.split(text) for part in _CAMEL_PART.findall(chunk)]


def phrases_for(names: Iterable[str], overrides: Overrides | None = None) -> list[Phrase]:
    """The words of each class name (`class_words`), in order; saves newly computed lemmas to the cache folder."""
    phrases = [class_words(name, overrides) for name in names]
    _LEMMAS.save()
    return phrases


def _lemmatise(word: str) -> str:
    return _LEMMAS.get(word) if word.endswith("ing") else word


def _verb_base(word: str) -> str:
    """The verb's base form when `word` is its -ing form (playing -> play), else `word`.

    Only -ing forms: a plural noun such as "leaves" or "glasses" reads as a verb form too, and
    "saw" or "shot" are nouns in class names more often than past tenses.
    """
    from lemminflect import getAllLemmas, getInflection

    for lemma in getAllLemmas(word).get("VERB", ()):
        if word in getInflection(lemma, "VBG"):
            return lemma
    return word


class _LemmaStore:
    """-ing word -> lemma, remembered on disk per lemminflect version.

    Loading lemminflect's tables takes about 0.3 s, most of a warm `zslbench split`; the words
    of class names repeat from run to run, so their lemmas are kept in the cache folder.
    """

    def __init__(self) -> None:
        self.table: dict[str, str] | None = None
        self.dirty = False

    @property
    def path(self) -> Path:
        from importlib.metadata import version

        return cache_dir("lemmas") / f"lemminflect-{version('lemminflect')}.json"

    def get(self, word: str) -> str:
        if self.table is None:
            self.table = self._read()
        if word not in self.table:
            self.table[word] = _verb_base(word)
            self.dirty = True
        return self.table[word]

    def _read(self) -> dict[str, str]:
        try:
            table = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return table if isinstance(table, dict) else {}

    def save(self) -> None:
        if self.dirty and self.table is not None:
            with contextlib.suppress(OSError):  # a read-only cache only costs speed
                write_text(self.path, json.dumps(self.table, sort_keys=True))
            self.dirty = False


_LEMMAS = _LemmaStore()
