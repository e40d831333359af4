"""Helpers to run the plug-in in the REAL GIMP 3: provision, profile, engine, headless runs.

Used by tests/test_gimp_plugin.py, tests/gimp/xsession.py (the GUI under Xvfb) and
tests/gimp/screenshots.py. GIMP runs where tests/gimp/provision_gimp.sh says: per Debian suite (trixie:
GIMP 3.0, sid: GIMP 3.2) the host itself or a root under /var/cache/nst-gimp3/SUITE; files GIMP must read
are put under <root>/tmp/nst-*/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SRC = REPO / "gimp_plugin" / "neural_style_transfer"
PLUGIN_DIR_NAME = "neural_style_transfer"
WEIGHTS_CACHE = Path(tempfile.gettempdir()) / "nst-test-weights"


# The Debian suites the tests run GIMP from, and the GIMP series each ships (a label until provisioned).
SUITES = {"trixie": "3.0", "sid": "3.2"}
ROOTS = Path(os.environ.get("NST_GIMP_ROOTS", "/var/cache/nst-gimp3"))
CONSOLE_NAMES = ("gimp-console-3.0", "gimp-console-3.2", "gimp-console-3", "gimp-console")
GUI_NAMES = ("gimp-3.0", "gimp-3.2", "gimp-3", "gimp")


class NotProvisionable(Exception):
    """GIMP 3 cannot be provisioned here (e.g. not root): tests skip with this message."""


def suites() -> list[str]:
    """The suites to test against: $NST_GIMP_SUITES (space separated) or all of SUITES."""
    wanted = os.environ.get("NST_GIMP_SUITES", "").split() or list(SUITES)
    return [s for s in wanted if s in SUITES]


def _host_suite() -> str | None:
    """Same rule as provision_gimp.sh: a Debian host of that suite runs GIMP itself."""
    try:
        version = Path("/etc/debian_version").read_text().strip()
    except OSError:
        return None
    if version.endswith("/sid"):
        return "sid"
    return "trixie" if version.split(".")[0] == "13" else None


def _root_path(suite: str) -> Path:
    return Path("/") if _host_suite() == suite and not os.environ.get("NST_GIMP_FORCE_ROOT") else ROOTS / suite


def installed_version(root: Path) -> str | None:
    """GIMP's upstream version from the root's dpkg database (e.g. 3.0.4), None when not installed."""
    try:
        status = (root / "var/lib/dpkg/status").read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r"^Package: gimp\n(?:(?!\n\n).)*?^Version: (?:\d+:)?([0-9.]+)", status, re.M | re.S)
    return m.group(1) if m else None


def suite_label(suite: str) -> str:
    """The test id for a suite: the GIMP version already installed there, else the series it ships."""
    return f"gimp{installed_version(_root_path(suite)) or SUITES[suite]}-{suite}"


@dataclass
class GimpRoot:
    """Where GIMP 3 runs: `prefix` (["chroot", ROOT] or []), `root` (the chroot's root, or /), which
    binaries that GIMP has (3.0 and 3.2 name them differently) and its version."""

    prefix: list[str]
    root: Path
    suite: str = "trixie"
    console: str = "gimp-console-3.0"
    gui: str = "gimp-3.0"
    version: str = ""

    def inside(self, host: Path) -> str:
        return "/" + str(host.resolve().relative_to(self.root.resolve()))

    def command(self, env: dict[str, str], argv: list[str]) -> list[str]:
        """argv with a clean environment (the host's NST_* variables must not leak into GIMP)."""
        base = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                "LANG": "C.UTF-8", "NO_AT_BRIDGE": "1"}
        pairs = [f"{k}={v}" for k, v in {**base, **env}.items()]
        return [*self.prefix, "/usr/bin/env", "-i", *pairs, *argv]

    def workdir(self, prefix: str) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp))
        path.chmod(0o755)
        return path

    def mirror_host_paths(self) -> None:
        """Make the root's host path resolve inside the root too (a link ROOT/ROOT -> /), so a file an
        engine on the host names by its host path (state file, token file) is the same path for GIMP."""
        if self.root.resolve() == Path("/"):
            return
        link = self.root / str(self.root.resolve()).lstrip("/")
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/")


def _find(root: Path, names: tuple[str, ...]) -> str | None:
    for name in names:
        if os.path.lexists(root / "usr" / "bin" / name):
            return name
    return None


def provision(suite: str = "trixie") -> GimpRoot:
    """Run provision_gimp.sh for `suite` (it reuses and repairs the root); NotProvisionable when it can't."""
    script = REPO / "tests" / "gimp" / "provision_gimp.sh"
    proc = subprocess.run(["bash", str(script), "--suite", suite], capture_output=True, text=True, timeout=2400)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        if proc.returncode == 3 or os.geteuid() != 0:
            raise NotProvisionable(f"GIMP 3 ({suite}) cannot be provisioned here: {reason}")
        raise RuntimeError(f"provision_gimp.sh --suite {suite} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    prefix = proc.stdout.strip().split()
    root = Path(prefix[1]) if prefix[:1] == ["chroot"] else Path("/")
    console, gui = _find(root, CONSOLE_NAMES), _find(root, GUI_NAMES)
    if console is None or gui is None:
        raise RuntimeError(f"no GIMP binaries in {root}/usr/bin (looked for {CONSOLE_NAMES} and {GUI_NAMES})")
    gimp = GimpRoot(prefix, root, suite, console, gui)
    out = subprocess.run(gimp.command({}, [console, "--version"]), capture_output=True, text=True, timeout=120)
    m = re.search(r"version (\d+\.\d+\.\d+)", out.stdout + out.stderr)
    gimp.version = m.group(1) if m else "unknown"
    gimp.mirror_host_paths()
    return gimp


# --- the engine -----------------------------------------------------------------------------------


@dataclass
class Engine:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def close(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen) -> None:
    """Terminate, and kill what has not exited within 10 s (engines, GIMP, Xvfb, spawned helpers)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_weights() -> Path:
    """Generated (synthetic, calibrated) VGG-19 weights in torchvision layout, cached between runs."""
    from nst_engine.weights.synthetic import make_test_weights

    WEIGHTS_CACHE.mkdir(parents=True, exist_ok=True)
    return make_test_weights(WEIGHTS_CACHE, "torchvision")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def engine_argv() -> list[str]:
    """The test engine's command: CPU always, so that a GPU cannot finish the GUI tests' jobs before the
    click, with the generated weights."""
    return [sys.executable, "-m", "nst_engine", "serve", "--device", "cpu", "--weights", str(test_weights())]


def engine_env(work: Path, threads: int = 2) -> dict[str, str]:
    """The engine's environment: the repo importable, its own home (never the user's engine or cache)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads),
           "NST_ENGINE_HOME": str(work / "engine-home")}
    for name in ("NST_ENGINE_URL", "NST_ENGINE_TOKEN", "NST_ENGINE_CONFIG", "NST_ENGINE_STATE_FILE"):
        env.pop(name, None)
    return env


def start_engine(work: Path, threads: int = 2) -> Engine:
    """`python -m nst_engine serve --port 0 --weights FILE` on loopback; waits for its URL and token."""
    log = work / "engine.log"
    env = engine_env(work, threads)
    out = open(log, "wb")  # noqa: SIM115 - stays open for the engine's lifetime
    process = subprocess.Popen(
        [*engine_argv(), "--host", "127.0.0.1", "--port", "0"],
        stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        url, token = _url_and_token(text)
        if url and token:
            return Engine(url, token, process, log)
        if process.poll() is not None:
            raise RuntimeError(f"the engine exited ({process.returncode}): {text[-3000:]}")
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the engine did not start within 120 s: {log.read_text()[-3000:]}")


def _url_and_token(text: str) -> tuple[str | None, str | None]:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                info = json.loads(line)
            except ValueError:
                continue
            if isinstance(info, dict) and info.get("url") and info.get("token_file"):
                return str(info["url"]), Path(info["token_file"]).read_text().strip()
            if isinstance(info, dict) and info.get("url") and info.get("token"):
                return str(info["url"]), str(info["token"])
    url = re.search(r"https?://127\.0\.0\.1:\d+", text)
    token = re.search(r"token[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9_\-]{8,})", text)
    return (url.group(0) if url else None), (token.group(1) if token else None)


def engine_json_ok(engine: Engine) -> dict[str, object]:
    return {"python": None, "command": None, "state_file": None, "url": engine.url, "token": engine.token,
            "spawn_prefix": []}


# --- profile and files ---------------------------------------------------------------------------


def install_plugin(profile: Path, engine_json: dict[str, object]) -> Path:
    """Copy the plug-in folder's *.py as the installer does (profile/plug-ins/neural_style_transfer/, run bit
    on the main file) and write engine.json."""
    target = profile / "plug-ins" / PLUGIN_DIR_NAME
    target.mkdir(parents=True, exist_ok=True)
    for src in PLUGIN_SRC.glob("*.py"):
        shutil.copy2(src, target / src.name)
    (target / f"{PLUGIN_DIR_NAME}.py").chmod(0o755)
    (target / "engine.json").write_text(json.dumps(engine_json))
    return target


def make_style_images(work: Path, size: int = 64) -> None:
    from PIL import Image

    for src, dst in (("hubble.jpg", "style.jpg"), ("ihc.jpg", "style2.png")):
        with Image.open(REPO / "tests" / "data" / src) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            im.save(work / dst)
    (work / "corrupt.png").write_text("this is not an image, although its name says so\n")


def run_batch(gimp: GimpRoot, profile: Path, driver: Path, params: Path, log: Path,
              env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """One headless GIMP start: gimp-console -i, python-fu-eval runs the driver with NST_PARAMS."""
    code = f"NST_PARAMS={gimp.inside(params)!r}; exec(open({gimp.inside(driver)!r}).read())"
    argv = [gimp.console, "-i", "--batch-interpreter=python-fu-eval", "-b", code, "--quit"]
    full_env = {"GIMP3_DIRECTORY": gimp.inside(profile), **(env or {})}
    proc = subprocess.run(gimp.command(full_env, argv), capture_output=True, text=True, timeout=timeout)
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    return proc
