"""recent_styles: the dialog's last-used style images (pure logic, no GIMP)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import recent_styles as R  # noqa: E402


def _files(tmp_path: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        p = tmp_path / f"style{i}.png"
        p.write_bytes(b"x")
        paths.append(str(p))
    return paths


def test_newest_first_deduplicated_and_capped(tmp_path):
    files = _files(tmp_path, 10)
    store = R.recent_file(tmp_path / "gimp")
    for path in files:
        R.remember(store, [path])
    R.remember(store, [files[3]])  # chosen again: moves to the front, once
    got = R.load(store)
    assert got[0] == files[3]
    assert len(got) == R.LIMIT == 8
    assert got == [files[i] for i in (3, 9, 8, 7, 6, 5, 4, 2)]


def test_two_styles_of_one_run_both_kept_in_order(tmp_path):
    a, b, c = _files(tmp_path, 3)
    store = R.recent_file(tmp_path)
    R.remember(store, [c])
    assert R.remember(store, [a, b]) == [a, b, c]


def test_same_file_through_another_spelling_counts_once(tmp_path):
    (a,) = _files(tmp_path, 1)
    other = str(Path(tmp_path) / "sub" / ".." / Path(a).name)
    assert R.merge([other], [a]) == [a]


def test_missing_files_are_dropped_when_read(tmp_path):
    a, b = _files(tmp_path, 2)
    store = R.recent_file(tmp_path)
    R.remember(store, [a, b])
    Path(a).unlink()
    assert R.load(store) == [b]
    assert R.load(store, exists=False) == [a, b]


def test_missing_or_broken_store_reads_as_empty(tmp_path):
    store = R.recent_file(tmp_path)
    assert R.load(store) == []
    store.parent.mkdir(parents=True)
    store.write_text("{not json")
    assert R.load(store) == []
    store.write_text(json.dumps({"styles": [1, None, "", {"x": 1}]}))
    assert R.load(store) == []
    (a,) = _files(tmp_path, 1)
    assert R.remember(store, [a]) == [a]  # a broken store is replaced, not a failure


def test_unwritable_store_does_not_raise(tmp_path):
    (a,) = _files(tmp_path, 1)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert R.remember(blocker / "x" / "recent.json", [a]) == [a]


def test_the_last_style_is_a_failed_oks_then_the_most_recent(tmp_path: Path) -> None:
    """The Learn window offers the style picked last: an OK's whose run has not succeeded (kept by
    repeat_values.py, passed in), else the most recent that still exists."""
    a, b = (tmp_path / f"{n}.png" for n in "ab")
    for path in (a, b):
        path.write_bytes(b"x")
    store = R.recent_file(tmp_path / "profile")
    assert R.last_style(store) is None
    R.remember(store, [str(a)])
    assert R.last_style(store) == str(a) and R.last_style(store, pending=None) == str(a)
    assert R.last_style(store, pending=str(b)) == str(b)
    assert R.last_style(store, pending=str(tmp_path / "gone.png")) == str(a)  # a vanished file is not offered
