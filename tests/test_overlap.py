import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zslbench.core.errors import ZslbenchError
from zslbench.protocol.overlap import OverlapTable, compute_overlap, cosine_distances, parse_sweep, protocol_overlap
from zslbench.protocol.spec import load_protocol
from zslbench.text.vocab import ClassList

# no zero vectors (a class vector is never zero): magnitudes in [2**-10, 10], either sign
magnitude = st.floats(2**-10, 10, width=32)
finite = st.tuples(st.booleans(), magnitude).map(lambda pair: pair[1] if pair[0] else -pair[1])
vectors = st.integers(1, 12).flatmap(lambda n: arrays(np.float32, (n, 5), elements=finite))


def table_from(distance: np.ndarray) -> OverlapTable:
    n = len(distance)
    names = tuple(f"c{i}" for i in range(n))
    return OverlapTable(
        source=ClassList("s", names, "test"), tests=(), embedder_id="x", words=((),) * n, oov=((),) * n,
        nearest=names, nearest_dataset=("t",) * n, distance=distance, test_oov={},
    )  # fmt: skip


def test_cosine_distances_match_scipy_cdist():
    spatial = pytest.importorskip("scipy.spatial")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 50)).astype(np.float32), rng.normal(size=(20, 50)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    # the reference filtered with cdist; only the summation order differs (BLAS vs a C loop)
    assert np.abs(cosine_distances(a, b) - spatial.distance.cdist(a, b, "cosine")).max() < 1e-12


@settings(max_examples=200, deadline=None)
@given(source=vectors, test=vectors, tau=st.floats(0, 2))
def test_kept_iff_min_distance_at_least_tau(source, test, tau):
    distance = cosine_distances(source, test).min(axis=1)
    table = table_from(distance)
    kept = table.kept(tau)
    brute = np.array([min(cosine_distances(s[None], test)[0]) >= tau for s in source])
    assert np.array_equal(kept, brute)
    assert (distance[kept] >= tau).all() and (distance[~kept] < tau).all()


@settings(max_examples=200, deadline=None)
@given(distance=arrays(np.float64, st.integers(0, 40), elements=st.floats(0, 2)), taus=st.lists(st.floats(0, 2)))
def test_kept_count_never_increases_with_tau(distance, taus):
    taus = np.sort(np.array(taus, dtype=np.float64))
    counts = table_from(distance).kept_counts(taus)
    assert (np.diff(counts) <= 0).all()
    assert list(counts) == [int((distance >= t).sum()) for t in taus]


@pytest.fixture(scope="module")
def default_table():
    return protocol_overlap(load_protocol())


def test_default_split_obeys_the_rule_on_real_vectors(default_table):
    from zslbench.text import load_embedder
    from zslbench.text.class_vectors import embed_class_lists

    proto = load_protocol()
    source, *tests = embed_class_lists([proto.source_classes(), *proto.test_classes()], load_embedder("glove-6b-50d"))
    independent = cosine_distances(source.vectors, np.concatenate([t.vectors for t in tests])).min(axis=1)
    assert np.array_equal(default_table.distance, independent)
    kept = default_table.kept(0.05)
    assert (independent[kept] >= 0.05).all() and (independent[~kept] < 0.05).all()
    counts = default_table.kept_counts(parse_sweep("0:0.3:0.01"))
    assert (np.diff(counts) <= 0).all() and counts[0] == 700


def test_identical_class_names_across_datasets_are_removed(default_table):
    nearest = dict(zip(default_table.source.classes, default_table.distance, strict=True))
    # the same activity, spelled per dataset convention, must be caught at any tau > 0
    for kinetics_name in ("playing guitar", "push up", "jetskiing", "brushing hair"):
        assert nearest[kinetics_name] < 1e-6


def test_nearest_class_and_dataset_are_reported(default_table):
    i = default_table.source.classes.index("playing guitar")
    assert (default_table.nearest[i], default_table.nearest_dataset[i]) == ("PlayingGuitar", "ucf101")


def test_no_test_dataset_is_an_error():
    from zslbench.text import load_embedder

    with pytest.raises(ZslbenchError, match="no test datasets"):
        compute_overlap(ClassList("s", ("a",), "x"), [], load_embedder("glove-6b-50d"))


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("0:0.3:0.1", [0.0, 0.1, 0.2, 0.3]),
        ("0.05:0.05:0.01", [0.05]),
        ("0:0.3:0.01", [round(0.01 * i, 2) for i in range(31)]),
    ],
)
def test_sweep_includes_both_ends(text, values):
    assert parse_sweep(text).tolist() == values


@pytest.mark.parametrize("text", ["0:0.3", "a:b:c", "0.3:0:0.1", "0:0.3:0", "0:3:0.1"])
def test_bad_sweeps_are_errors(text):
    with pytest.raises(ZslbenchError, match="sweep"):
        parse_sweep(text)


def test_a_pairs_distance_does_not_depend_on_the_batch():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 300)), rng.normal(size=(40, 300))
    full = cosine_distances(a, b)
    assert all(np.array_equal(full[i], cosine_distances(a[i : i + 1], b)[0]) for i in range(50))
    assert all(np.array_equal(full[:, j], cosine_distances(a, b[j : j + 1])[:, 0]) for j in range(40))
