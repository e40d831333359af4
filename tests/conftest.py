"""Shared fixtures: synthetic VGG-19 weights (the real ones cannot be downloaded here) and photographs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
PHOTOS = sorted(DATA.glob("*.jpg"))

# Two cores: keep torch from oversubscribing them when several test processes run.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# Busy cores: OpenMP threads that spin while waiting make every torch call many times slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The engine's folders (timing.json, a serving engine's state file, weights) are the run's own unless a
# test names others: a test run never reads or writes the user's real ones, nor finds an engine they run.
TEST_ENGINE_HOME = Path(tempfile.mkdtemp(prefix="nst-tests-home-"))
os.environ["NST_ENGINE_HOME"] = str(TEST_ENGINE_HOME)


# The suite means the same on every CPU and host. `precision=auto` picks bf16 on CPUs with AVX-512 BF16 or
# AMX (the one the suite was written on) and fp32 elsewhere; a plan tiles when the host's free memory is
# short; `device=auto` picks CUDA where there is one. So engines the tests start run on the CPU in fp32 with
# a fixed memory budget, unless a test asks otherwise; in-process, `auto` means fp32 on every CPU (a
# session-wide patch of device.cpu_has_fast_bf16), and tests of bf16 ask for it by name.
PINNED_ENGINE_FLAGS: dict[str, tuple[str, ...]] = {
    "--device": ("cpu",),
    "--precision": ("fp32",),
    "--memory-limit": ("4GiB",),  # far above what the tests' pictures need untiled, below what a CI host has
}


def pinned_engine_args(extra: tuple[str, ...]) -> list[str]:
    """`extra` plus the PINNED_ENGINE_FLAGS it doesn't set itself (`--memory-limit-mb` sets the memory limit)."""
    given = {arg.split("=")[0] for arg in extra if arg.startswith("--")}
    if "--memory-limit-mb" in given:
        given.add("--memory-limit")
    added = [part for flag, value in PINNED_ENGINE_FLAGS.items() if flag not in given for part in (flag, *value)]
    return [*extra, *added]


@pytest.fixture(scope="session", autouse=True)
def cpu_auto_precision_is_fp32() -> Iterator[None]:
    """In-process, `precision=auto` picks fp32 on every CPU, as on one without AVX-512 BF16 (see above)."""
    try:
        from nst_engine import device
    except ImportError:  # the plug-in's tests run without the engine's dependencies
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(device, "cpu_has_fast_bf16", lambda: False)
        yield


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(TEST_ENGINE_HOME, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Real-GIMP tests that skipped are said loudly: a green run without them has not tested the plug-in in GIMP."""
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if "gimp" in getattr(report, "keywords", {})]
    if not skipped:
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.write_sep("!", f"{len(skipped)} REAL-GIMP TESTS SKIPPED: the plug-in was NOT tested in GIMP",
                               red=True, bold=True)
    for reason, count in reasons.items():
        terminalreporter.write_line(f"  {count} skipped: {reason}", red=True, bold=True)
    terminalreporter.write_line("  Run the suite as root (tests/run.sh), where tests/gimp/provision_gimp.sh can "
                                "provision GIMP 3.0 and 3.2, to test the plug-in in GIMP.", red=True, bold=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu` tests skip, saying why, where torch sees no CUDA device (torch is imported only if there are some)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    reason = (f"needs a CUDA GPU: torch {torch.__version__} sees none (CUDA build: {torch.version.cuda or 'no'}); "
              "run benchmarks/gpu_check.sh on a GPU machine")
    for item in gpu_items:
        item.add_marker(pytest.mark.skip(reason=reason))


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet request handler for the tests' small servers, with a JSON answer in one call."""

    def send_json(self, status: int, answer: object) -> None:
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def loopback_server(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on a free loopback port, serving from a thread: yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def no_engine_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No engine URL, token, config or state file from the environment: the test's engine.json decides."""
    for name in ("NST_ENGINE_URL", "NST_ENGINE_TOKEN", "NST_ENGINE_CONFIG", "NST_ENGINE_STATE_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    return {path.stem: path for path in PHOTOS}


@pytest.fixture(scope="session")
def synthetic_weights(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`synthetic_weights(fmt)`: a VGG-19 file in that format, from a fixed seed, calibrated on the test photos.

    NST_TEST_WEIGHTS_DIR keeps them between runs (benchmarks/gpu_check.sh makes them once there).
    """
    from nst_engine.weights.synthetic import make_test_weights

    made: dict[str, Path] = {}
    kept = os.environ.get("NST_TEST_WEIGHTS_DIR")

    def make(fmt: str = "torchvision") -> Path:
        if fmt not in made:
            folder = Path(kept) / fmt if kept else tmp_path_factory.mktemp(f"weights-{fmt}")
            made[fmt] = make_test_weights(folder, fmt, PHOTOS, seed=0)
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


class EngineProcess:
    """A real `nst-engine serve` subprocess on loopback, as the plug-in meets it (pinned: PINNED_ENGINE_FLAGS)."""

    def __init__(self, home: Path, weights: Path, *extra: str) -> None:
        import json
        import subprocess
        import sys
        import time

        self.home = home
        self.state_file = home / "cache" / "server.json"
        self.log = home / "engine.log"
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NST_ENGINE_HOME": str(home), "OMP_NUM_THREADS": "2"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nst_engine", "serve", "--port", "0", "--weights", str(weights),
             *pinned_engine_args(extra)],
            stdout=subprocess.PIPE, stderr=self.log.open("ab"), env=env, text=True,
        )
        line = self.process.stdout.readline()  # the state, printed once it listens
        if not line:
            self.process.wait(timeout=30)
            raise RuntimeError(f"the engine did not start: {self.log.read_text()[-2000:]}")
        state = json.loads(line)
        self.url: str = state["url"]
        self.token: str = Path(state["token_file"]).read_text().strip()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.healthy():
            time.sleep(0.1)

    def healthy(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def stop(self) -> int:
        import subprocess

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start_engine(tmp_path: Path, synthetic_weights_file: Path):
    """`start_engine(*extra_args)`: a fresh engine in its own home; all are stopped after the test."""
    started: list[EngineProcess] = []

    def start(*extra: str, home: Path | None = None) -> EngineProcess:
        engine = EngineProcess(home or tmp_path / f"home{len(started)}", synthetic_weights_file, *extra)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()


@pytest.fixture(scope="module")
def cache(synthetic_weights_file: Path):
    """A warm engine model on the synthetic weights, shared by a module's stylisations."""
    from nst_engine.gatys.cache import ModelCache

    return ModelCache(synthetic_weights_file)


@pytest.fixture(scope="module")
def cat(photos: dict[str, Path]):
    """The content photograph most engine tests stylise (451x300)."""
    from nst_engine.pictures.images import load_picture

    return load_picture(photos["chelsea"])


@pytest.fixture(scope="module")
def stain(photos: dict[str, Path]):
    """A stained-tissue photograph: a style with strong colour and texture."""
    from nst_engine.pictures.images import load_picture

    return load_picture(photos["ihc"])
