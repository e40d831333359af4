"""Helpers to run the plug-in in the REAL GIMP 3: provision, profile, engine, headless and Xvfb runs.

Used by tests/test_gimp_plugin.py and by tests/gimp/screenshots.sh (`python tests/gimp/gimp_harness.py
screenshots OUT_DIR`). GIMP runs where tests/gimp/provision_gimp.sh says (a Debian 13 chroot on
Debian 12 hosts); files GIMP must read are put under <root>/tmp/nst-*/.
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
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SRC = REPO / "gimp_plugin" / "neural_style_transfer"
PLUGIN_DIR_NAME = "neural_style_transfer"
WEIGHTS_CACHE = Path(tempfile.gettempdir()) / "nst-test-weights"


class NotProvisionable(Exception):
    """GIMP 3 cannot be provisioned here (e.g. not root): tests skip with this message."""


@dataclass
class GimpRoot:
    """Where GIMP 3 runs: `prefix` (["chroot", ROOT] or []) and `root` (the chroot's root, or /)."""

    prefix: list[str]
    root: Path

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


def provision() -> GimpRoot:
    """Run provision_gimp.sh (reuses the chroot when it is there); NotProvisionable when it can't."""
    script = REPO / "tests" / "gimp" / "provision_gimp.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        if proc.returncode == 3 or os.geteuid() != 0:
            raise NotProvisionable(f"GIMP 3 cannot be provisioned here: {reason}")
        raise RuntimeError(f"provision_gimp.sh failed ({proc.returncode}): {proc.stderr[-2000:]}")
    prefix = proc.stdout.strip().split()
    root = Path(prefix[1]) if prefix[:1] == ["chroot"] else Path("/")
    return GimpRoot(prefix, root)


# --- the engine -----------------------------------------------------------------------------------


@dataclass
class Engine:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def test_weights() -> Path:
    """Generated (synthetic, calibrated) VGG-19 weights in torchvision layout, cached between runs."""
    from nst_engine.synthetic_weights import make_test_weights

    WEIGHTS_CACHE.mkdir(parents=True, exist_ok=True)
    return make_test_weights(WEIGHTS_CACHE, "torchvision")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_engine(work: Path, threads: int = 2) -> Engine:
    """`python -m nst_engine serve --port 0 --weights FILE` on loopback; waits for its URL and token."""
    weights = test_weights()
    log = work / "engine.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads),
           "NST_ENGINE_HOME": str(work / "engine-home")}  # never the user's own engine or cache
    for name in ("NST_ENGINE_URL", "NST_ENGINE_TOKEN"):
        env.pop(name, None)
    out = open(log, "wb")  # noqa: SIM115 - stays open for the engine's lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "nst_engine", "serve", "--host", "127.0.0.1", "--port", "0",
         "--weights", str(weights)],
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
    """Copy the plug-in as the installer does: profile/plug-ins/neural_style_transfer/, run bits."""
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
    """One headless GIMP start: gimp-console-3.0 -i, python-fu-eval runs the driver with NST_PARAMS."""
    code = f"NST_PARAMS={gimp.inside(params)!r}; exec(open({gimp.inside(driver)!r}).read())"
    argv = ["gimp-console-3.0", "-i", "--batch-interpreter=python-fu-eval", "-b", code, "--quit"]
    full_env = {"GIMP3_DIRECTORY": gimp.inside(profile), **(env or {})}
    proc = subprocess.run(gimp.command(full_env, argv), capture_output=True, text=True, timeout=timeout)
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    return proc


# --- the GUI under Xvfb --------------------------------------------------------------------------


@dataclass
class XSession:
    """Xvfb + gimp-3.0 (GUI) inside the GIMP root, driven with xdotool; no window manager."""

    gimp: GimpRoot
    profile: Path
    work: Path
    display: str = ":97"
    env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        return {"DISPLAY": self.display, "GIMP3_DIRECTORY": self.gimp.inside(self.profile), **self.env}

    def start(self, driver: Path, params: Path) -> None:
        lock = self.gimp.root / "tmp" / f".X{self.display.lstrip(':')}-lock"
        lock.unlink(missing_ok=True)
        xlog = open(self.work / "xvfb.log", "wb")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            self.gimp.command(self._env(), ["Xvfb", self.display, "-screen", "0", "1280x800x24", "-nolisten",
                                            "tcp"]), stdout=xlog, stderr=subprocess.STDOUT))
        time.sleep(2)
        code = f"NST_PARAMS={self.gimp.inside(params)!r}; exec(open({self.gimp.inside(driver)!r}).read())"
        glog = open(self.work / "gimp-gui.log", "wb")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            self.gimp.command(self._env(), ["gimp-3.0", "--no-splash", "--batch-interpreter=python-fu-eval",
                                            "-b", code]), stdout=glog, stderr=subprocess.STDOUT))

    def x(self, *args: str, check: bool = False) -> str:
        proc = subprocess.run(self.gimp.command(self._env(), list(args)), capture_output=True, text=True,
                              timeout=60)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{args}: {proc.stderr}")
        return proc.stdout

    def wait_window(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.x("xdotool", "search", "--onlyvisible", "--name", pattern).split()
            if ids:
                return ids[-1]
            self.check_alive()
            time.sleep(0.5)
        raise TimeoutError(f"no window named {pattern!r} within {timeout} s")

    def wait_gone(self, window: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if window not in self.x("xdotool", "search", "--onlyvisible", "--name", ".").split():
                return
            time.sleep(0.5)
        raise TimeoutError(f"window {window} still there after {timeout} s")

    def geometry(self, window: str) -> tuple[int, int, int, int]:
        out = self.x("xdotool", "getwindowgeometry", "--shell", window, check=True)
        vals = dict(line.split("=", 1) for line in out.split() if "=" in line)
        return int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"])

    def click(self, x: int, y: int) -> None:
        self.x("xdotool", "mousemove", "--sync", str(x), str(y), "click", "1", check=True)

    def key(self, window: str, keys: str) -> None:
        self.x("xdotool", "windowfocus", "--sync", window, check=False)
        self.x("xdotool", "key", "--clearmodifiers", keys, check=True)

    def shot(self, out: Path, window: str | None = None) -> None:
        inside = self.gimp.inside(out) if str(out).startswith(str(self.gimp.root)) else None
        target = inside or "/tmp/.nst-shot.png"
        self.x("import", "-window", window or "root", target, check=True)
        if inside is None:
            shutil.copy2(self.gimp.root / target.lstrip("/"), out)

    def wait_file(self, path: Path, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not appear within {timeout} s")
            self.check_alive()
            time.sleep(0.3)

    def check_alive(self) -> None:
        if self.procs and self.procs[-1].poll() is not None:
            log = (self.work / "gimp-gui.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"GIMP exited ({self.procs[-1].returncode}):\n{log}")

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.procs.clear()


# --- README screenshots --------------------------------------------------------------------------


def screenshots(out_dir: Path, iterations: int = 40) -> list[Path]:
    """The procedure dialog, the progress window and a stylised photo in GIMP, as small PNGs."""
    from PIL import Image

    gimp = provision()
    work = gimp.workdir("nst-shots-")
    engine = start_engine(work)
    session: XSession | None = None
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        profile = work / "profile"
        install_plugin(profile, engine_json_ok(engine))
        make_style_images(work, size=256)
        with Image.open(REPO / "tests" / "data" / "chelsea.jpg") as im:
            im.convert("RGB").save(work / "photo.jpg", quality=92)
        with Image.open(REPO / "tests" / "data" / "ihc.jpg") as im:  # a real picture as the style
            im.convert("RGB").resize((256, 256)).save(work / "style.jpg", quality=92)
        shutil.copy2(REPO / "tests" / "gimp" / "drive_screens.py", work / "drive_screens.py")
        params = {"photo": gimp.inside(work / "photo.jpg"), "style": gimp.inside(work / "style.jpg"),
                  "args": {"quality": "draft", "max-size": 256, "style-strength": 3.0, "seed": 1}}
        (work / "params.json").write_text(json.dumps(params))
        session = XSession(gimp, profile, work, display=":96",
                           env={"NST_PLUGIN_EXTRA_SETTINGS": json.dumps({"iterations": iterations, "scales": 1})})
        session.start(work / "drive_screens.py", work / "params.json")
        session.wait_file(work / "result-ready", 600)
        dialog = session.wait_window("^Neural Style Transfer$")
        time.sleep(1.5)
        session.shot(work / "dialog.png", dialog)
        x, y, w, h = session.geometry(dialog)
        session.click(x + w - 68, y + h - 42)  # OK
        progress = session.wait_window("working")
        time.sleep(6)
        session.shot(work / "progress.png", progress)
        session.wait_file(work / "interactive-done", 600)
        time.sleep(1.5)
        main = session.wait_window("GIMP$")
        session.shot(work / "result.png", main)
        shots = []
        for name in ("dialog", "progress", "result"):
            target = out_dir / f"plugin-{name}.png"
            with Image.open(work / f"{name}.png") as im:
                im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
            shots.append(target)
        return shots
    finally:
        if session is not None:
            session.close()
        engine.close()
        if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "screenshots":
        sys.exit("usage: gimp_harness.py screenshots OUT_DIR")
    for path in screenshots(Path(sys.argv[2])):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
