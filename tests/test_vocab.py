from pathlib import Path

import pytest

from zslbench.core.errors import ZslbenchError
from zslbench.core.paths import data_dir
from zslbench.text.vocab import DATASETS, load_class_list

SIZES = {"activitynet200": 200, "hmdb51": 51, "kinetics400": 400, "kinetics600": 600, "kinetics700": 700, "ucf101": 101}
SIZES["kinetics600_new"] = 220  # derived from two checked lists (tests/test_official_splits.py derives it again)
CHECKED = [name for name in DATASETS if name != "kinetics600_new"]  # those with a checked copy in ../shared


@pytest.mark.parametrize("name", DATASETS)
def test_shipped_lists_have_the_official_sizes_and_no_duplicates(name):
    class_list = load_class_list(name)
    assert len(class_list) == SIZES[name]
    assert class_list.duplicates == ()
    assert class_list.builtin


@pytest.mark.parametrize("name", CHECKED)
def test_shipped_lists_match_the_checked_copy(name, shared_dir):
    checked = (shared_dir / "class_lists" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    assert list(load_class_list(name).classes) == checked


def test_ucf101_keeps_classind_order_and_official_spellings():
    ucf = load_class_list("ucf101").classes
    assert ucf[0] == "ApplyEyeMakeup" and ucf[-1] == "YoYo"
    assert ucf.index("Hammering") < ucf.index("HammerThrow")  # classInd order, not code-point order
    assert "HandstandPushups" in ucf and "HandStandPushups" not in ucf


def test_class_file_tolerates_bom_crlf_comments_and_reports_duplicates(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_bytes("\ufeff# my classes\r\nplaying guitar\r\n\r\n  swimming  \r\nplaying guitar\r\n".encode())
    class_list = load_class_list(path)
    assert class_list.classes == ("playing guitar", "swimming")
    assert class_list.duplicates == ("playing guitar",)
    assert class_list.name == "mine" and not class_list.builtin


def test_hash_ignores_encoding_details_but_not_names(tmp_path):
    plain = tmp_path / "a.txt"
    plain.write_text("x\ny\n")
    fancy = tmp_path / "b.txt"
    fancy.write_bytes(b"\xef\xbb\xbf# c\r\nx\r\ny\r\n")
    other = tmp_path / "c.txt"
    other.write_text("y\nx\n")
    assert load_class_list(plain).sha256 == load_class_list(fancy).sha256
    assert load_class_list(plain).sha256 != load_class_list(other).sha256


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"# only a comment\n\n", "is empty"),
        (b"caf\xe9\n", "not UTF-8"),
    ],
)
def test_unusable_class_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ZslbenchError, match=message) as err:
        load_class_list(path)
    assert err.value.hint


def test_missing_file_and_unknown_dataset_name(tmp_path):
    with pytest.raises(ZslbenchError, match="does not exist"):
        load_class_list(tmp_path / "nope.txt")
    with pytest.raises(ZslbenchError, match="Did you mean 'ucf101'"):
        load_class_list("ucf01")
    with pytest.raises(ZslbenchError, match="is a folder"):
        load_class_list(tmp_path)


def test_relative_paths_resolve_against_a_base_dir(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "src.txt").write_text("a\nb\n")
    assert load_class_list("lists/src.txt", base_dir=tmp_path).classes == ("a", "b")


def test_data_dir_finds_the_checkout_folders():
    assert (data_dir("protocols") / "brattoli2020-k700-ucf-hmdb.yaml").is_file()
    assert (data_dir("class_lists") / "ucf101.txt").is_file()
    with pytest.raises(FileNotFoundError):
        data_dir("no_such_folder")
    assert isinstance(data_dir("class_lists"), Path)
