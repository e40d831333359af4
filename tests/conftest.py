"""Shared fixtures: synthetic VGG-19 weights (the real ones cannot be downloaded here) and photographs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
PHOTOS = sorted(DATA.glob("*.jpg"))

# Two cores: keep torch from oversubscribing them when several test processes run.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    return {path.stem: path for path in PHOTOS}


@pytest.fixture(scope="session")
def synthetic_weights(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`synthetic_weights(fmt)`: a VGG-19 file in that format, from a fixed seed, calibrated on the test photos."""
    from nst_engine.weights import make_test_weights

    made: dict[str, Path] = {}

    def make(fmt: str = "torchvision") -> Path:
        if fmt not in made:
            made[fmt] = make_test_weights(tmp_path_factory.mktemp(f"weights-{fmt}"), fmt, PHOTOS, seed=0)
        return made[fmt]

    return make


@pytest.fixture(scope="session")
def synthetic_weights_file(synthetic_weights: Callable[[str], Path]) -> Path:
    """torchvision-format synthetic weights (the default format)."""
    return synthetic_weights("torchvision")


@pytest.fixture
def engine_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-user engine directory, so tests never touch the real cache."""
    monkeypatch.setenv("NST_ENGINE_HOME", str(tmp_path / "engine-home"))
    return tmp_path / "engine-home"
