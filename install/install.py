#!/usr/bin/env python3
"""Installer for Neural Style Transfer for GIMP 3: engine, VGG-19 weights, plug-in, self test.

Written so that Python 3.7 can still read it (no `:=`): an old Python then finds a newer one and hands over.

Standard library only: it runs before the engine's virtual environment exists. Run it again to
repair or upgrade; `--uninstall` removes what it recorded in its manifest. `--help` lists the options.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MIN_PYTHON = (3, 10)
REPO = Path(__file__).resolve().parent.parent
PLUGIN_SRC = REPO / "gimp_plugin" / "neural_style_transfer"
PLUGIN_NAME = "neural_style_transfer"
CONTRACT_FILE = PLUGIN_SRC / "nst_contract.py"  # the plug-in's copy of nst_engine/contract.py (kept identical)


def _load_contract():
    """The contract (standard library only), without importing the engine (torch is not here)."""
    spec = importlib.util.spec_from_file_location("nst_contract", CONTRACT_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("nst_contract", module)
    spec.loader.exec_module(module)
    return module


contract = _load_contract()
sys.path.insert(0, str(Path(__file__).resolve().parent))  # pip_log.py, beside this file
import pip_log  # noqa: E402

LOG_NAME = "install.log"
LOG: Path | None = None  # this run's log (pip's output and the engine's messages); set by install()
APP = contract.APP
FLATPAK_APP = "org.gimp.GIMP"
FLATPAK_SPAWN = ["flatpak-spawn", "--host"]
FLATPAK_OVERRIDE = ["flatpak", "override", "--user", "--talk-name=org.freedesktop.Flatpak", FLATPAK_APP]
MANIFEST_NAME = "install-manifest.json"
OFFICIAL_WEIGHTS = contract.WEIGHTS_FILE_NAMES
TORCH_INDEX = "https://download.pytorch.org/whl/"
# Newest PyTorch CUDA build each NVIDIA driver runs (CUDA 12.8 needs 570+, 12.6 needs 560+, 11.8 needs 520+).
CUDA_WHEELS = ((570, "cu128"), (560, "cu126"), (520, "cu118"))
GB = 10**9
WEIGHTS_BYTES = 0.6 * GB
STEPS = 5
READY = "Ready: open GIMP, Filters > Artistic > Neural Style Transfer > Paint with a Style…"
NO_GIMP = "GIMP 3 was not found: install GIMP 3 from gimp.org, start it once, then run this installer again."
RUN_AGAIN = "run this installer again (it continues where it stopped)"
RETRY = "Run this installer again"
NO_INDEX_CPU = ("with --no-torch-index PyTorch comes from pip's usual sources, which for Linux have only the build "
                "with NVIDIA's CUDA libraries (about 2.5 GB to download, 5 GB installed; it runs on the CPU here "
                "too). Without --no-torch-index the installer takes PyTorch's CPU build (about 200 MB).")
PYTHON_NAMES = ("python3.13", "python3.12", "python3.11", "python3.10", "python3", "python")


class InstallError(Exception):
    """A failure a person can act on: `message` ends with what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def say(text: str = "") -> None:
    print(text, flush=True)


def step(number: int, text: str) -> None:
    say()
    say(f"Step {number} of {STEPS}: {text}")


# ---------------------------------------------------------------- where things go


def engine_dirs(platform: str, env: Mapping[str, str], home: Path) -> tuple[Path, Path]:
    """(cache, data) by the engine's own rule in nst_engine/contract.py."""
    return contract.cache_dir(platform, env, home), contract.data_dir(platform, env, home)


def venv_python(venv: Path, platform: str) -> Path:
    return venv / "Scripts" / "python.exe" if platform == "win32" else venv / "bin" / "python"


# ---------------------------------------------------------------- GIMP profiles


@dataclass(frozen=True)
class Profile:
    """A GIMP 3 user folder (`path`, e.g. ~/.config/GIMP/3.0); `kind` native, flatpak or snap."""

    path: Path
    kind: str = "native"
    created: bool = False

    @property
    def plugin_dir(self) -> Path:
        return self.path / "plug-ins" / PLUGIN_NAME


def gimp_config_bases(platform: str, env: Mapping[str, str], home: Path) -> list[tuple[Path, str]]:
    """The folders that hold GIMP's per-version profiles (`GIMP/3.0`, `GIMP/3.2`), by packaging."""
    if platform == "win32":
        return [(Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "GIMP", "native")]
    if platform == "darwin":
        return [(home / "Library" / "Application Support" / "GIMP", "native")]
    return [
        (Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "GIMP", "native"),
        (home / ".var" / "app" / FLATPAK_APP / "config" / "GIMP", "flatpak"),
        (home / "snap" / "gimp" / "current" / ".config" / "GIMP", "snap"),
    ]


def find_profiles(platform: str, env: Mapping[str, str], home: Path) -> list[Profile]:
    """Every existing GIMP 3.x profile: 3.0 and 3.2 keep separate folders, so each gets the plug-in."""
    found = []
    for base, kind in gimp_config_bases(platform, env, home):
        if base.is_dir():
            for child in sorted(base.iterdir()):
                if child.is_dir() and re.fullmatch(r"3\.\d+", child.name):
                    found.append(Profile(child, kind))
    return found


def _is_gimp3(program: str) -> bool:
    """`gimp` may be GIMP 2.10: ask it."""
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return re.search(r"version 3\.", out) is not None


def detect_gimp3(
    platform: str,
    env: Mapping[str, str],
    home: Path,
    which: Callable[[str], str | None] = shutil.which,
    root: Path = Path("/"),
) -> list[str]:
    """Kinds of GIMP 3 installed that may never have been started (so they have no profile yet)."""
    kinds: list[str] = []
    if platform == "win32":
        bases = [env.get("ProgramFiles"), env.get("ProgramW6432"), env.get("ProgramFiles(x86)")]
        if env.get("LOCALAPPDATA"):
            bases.append(str(Path(env["LOCALAPPDATA"]) / "Programs"))
        if any(base and list(Path(base).glob("GIMP 3*")) for base in bases):
            kinds.append("native")
        return kinds
    if platform == "darwin":
        apps = [*(root / "Applications").glob("GIMP*.app"), *(home / "Applications").glob("GIMP*.app")]
        if any("2." not in app.name for app in apps):
            kinds.append("native")
        return kinds
    gimp = which("gimp")
    if which("gimp-3.0") or which("gimp-3") or (gimp and _is_gimp3(gimp)):
        kinds.append("native")
    flatpak_dirs = [home / ".local/share/flatpak/app" / FLATPAK_APP, root / "var/lib/flatpak/app" / FLATPAK_APP]
    if any(path.is_dir() for path in flatpak_dirs):
        kinds.append("flatpak")
    if (root / "snap" / "gimp").is_dir():
        kinds.append("snap")
    return kinds


def profile_kind(path: Path) -> str:
    """The packaging a profile given with --gimp-profile belongs to, from its path."""
    text = path.as_posix()
    if f"/.var/app/{FLATPAK_APP}/" in text + "/":
        return "flatpak"
    if "/snap/gimp/" in text:
        return "snap"
    return "native"


def missing_profile(missing: Sequence[Path], existing: Sequence[Profile]) -> str:
    """--gimp-profile names a folder that is not there (a typo?): nothing is made; the real ones are named."""
    names = ", ".join(str(path) for path in missing)
    what = f"There is no GIMP settings folder {names}" if len(missing) == 1 else f"These folders do not exist: {names}"
    if existing:
        found = "; ".join(str(profile.path) + (f" ({profile.kind})" if profile.kind != "native" else "")
                          for profile in existing)
        return (f"{what}, so nothing was installed. GIMP 3's settings folders on this computer: {found}. Give one "
                "of them to --gimp-profile, or leave --gimp-profile out to install into all of them.")
    return (f"{what}, so nothing was installed, and no GIMP 3 settings folder was found on this computer. Start "
            "GIMP 3 once (it makes its folder), then run this installer again without --gimp-profile.")


def choose_profiles(
    given: Sequence[str],
    platform: str,
    env: Mapping[str, str],
    home: Path,
    which: Callable[[str], str | None] = shutil.which,
    root: Path = Path("/"),
) -> list[Profile]:
    """--gimp-profile folders, else every existing 3.x profile plus a new 3.0 one for a GIMP 3 never started."""
    if given:
        chosen = [Path(p).expanduser().absolute() for p in given]
        missing = [path for path in chosen if not path.is_dir()]
        if missing:
            raise InstallError(missing_profile(missing, find_profiles(platform, env, home)))
        return [Profile(path, profile_kind(path)) for path in chosen]
    profiles = find_profiles(platform, env, home)
    bases = dict((kind, base) for base, kind in gimp_config_bases(platform, env, home))
    for kind in detect_gimp3(platform, env, home, which, root):
        if not any(profile.kind == kind for profile in profiles):
            profiles.append(Profile(bases[kind] / "3.0", kind, created=True))
    if not profiles:
        raise InstallError(NO_GIMP)
    return profiles


# ---------------------------------------------------------------- which torch


@dataclass(frozen=True)
class TorchPlan:
    """The PyTorch build to install: `index_url` None means pip's own sources (PyPI)."""

    kind: str  # cuda, mps or cpu
    index_url: str | None
    need_bytes: float
    reason: str
    tag: str | None = None  # the CUDA build (cu128...) when kind is cuda


def parse_driver_version(text: str | None) -> tuple[int, ...] | None:
    """'570.86.15' (first GPU's line of nvidia-smi's csv) -> (570, 86, 15)."""
    for line in (text or "").splitlines():
        match = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", line)
        if match:
            return tuple(int(part) for part in match.groups() if part is not None)
    return None


def cuda_wheel_for(driver: tuple[int, ...]) -> str | None:
    for minimum, tag in CUDA_WHEELS:
        if driver[0] >= minimum:
            return tag
    return None


def nvidia_driver(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """nvidia-smi's driver version line, or None without an NVIDIA GPU (or driver)."""
    program = which("nvidia-smi")
    if not program:
        return None
    try:
        proc = subprocess.run(
            [program, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def choose_torch(choice: str, platform: str, machine: str, nvidia_smi_output: str | None) -> TorchPlan:
    """CUDA for an NVIDIA GPU, PyPI's build on a Mac (MPS on Apple silicon), else the CPU build."""
    cpu_index = None if platform == "darwin" else TORCH_INDEX + "cpu"
    if platform == "darwin":
        if choice == "cuda":
            raise InstallError("Macs have no CUDA: run the installer with --torch auto (or without --torch).")
        apple = machine.lower() in ("arm64", "aarch64")
        if choice == "auto" and apple:
            return TorchPlan("mps", None, 1.5 * GB, "Apple silicon: PyTorch will use the Mac's GPU (MPS)")
        return TorchPlan("cpu", None, 1.5 * GB, "this Mac has no supported GPU: the engine uses the CPU")
    driver = parse_driver_version(nvidia_smi_output)
    if choice == "cpu":
        return TorchPlan("cpu", cpu_index, 1.5 * GB, "CPU build, as asked")
    tag = cuda_wheel_for(driver) if driver else None
    if choice == "cuda":
        if tag is None:
            tag = CUDA_WHEELS[-1][1] if driver else CUDA_WHEELS[0][1]
        found = f"NVIDIA driver {'.'.join(map(str, driver))}" if driver else "no NVIDIA driver found"
        return TorchPlan("cuda", TORCH_INDEX + tag, 6 * GB, f"CUDA build {tag}, as asked ({found})", tag)
    if tag is not None and driver is not None:
        version = ".".join(map(str, driver))
        return TorchPlan("cuda", TORCH_INDEX + tag, 6 * GB, f"NVIDIA GPU with driver {version}: CUDA build {tag}",
                         tag)
    if driver is not None:
        version = ".".join(map(str, driver))
        return TorchPlan(
            "cpu", cpu_index, 1.5 * GB,
            f"the NVIDIA driver {version} is too old for PyTorch (520 or newer is needed): using the CPU; "
            "update the driver and run this installer again to use the GPU",
        )  # fmt: skip
    return TorchPlan("cpu", cpu_index, 1.5 * GB, "no NVIDIA GPU found: the engine uses the CPU")


def torch_pip_args(plan: TorchPlan, spec: str, use_index: bool) -> list[str]:
    """`pip install` arguments for torch and torchvision of the chosen build."""
    args = ["install", "--upgrade", *spec.split()]
    if use_index and plan.index_url:
        args += ["--index-url", plan.index_url]
    return args


# ---------------------------------------------------------------- which ONNX Runtime

# ONNX Runtime applies learned styles. onnxruntime and onnxruntime-gpu both provide the `onnxruntime` module, so
# only one of them can be installed. PyPI's onnxruntime-gpu has been built for CUDA 12 (and cuDNN 9) since 1.19,
# and it uses the CUDA 12 libraries that PyTorch's cu12x builds install (the engine imports torch first); its
# CUDA 11 builds are not on PyPI, and releases before 1.19 are older than the engine needs. So: onnxruntime-gpu
# beside a CUDA 12 PyTorch, the CPU onnxruntime everywhere else (a cu118 PyTorch included: learned styles are
# fast enough on the CPU, while a CUDA 12 runtime without its libraries would only fall back to it).
ONNXRUNTIME_CPU = "onnxruntime"
ONNXRUNTIME_GPU = "onnxruntime-gpu"
ONNXRUNTIME_GPU_CUDA = "12"  # the CUDA major version PyPI's onnxruntime-gpu is built for
ONNXRUNTIME_VERSION = ">=1.20"  # as pyproject.toml's `learned` extra (tests check they agree)
LEARNING_PACKAGES = ("onnx>=1.17", "onnxscript>=0.5")  # torch's ONNX exporter: learning a style needs them


@dataclass(frozen=True)
class OnnxRuntimePlan:
    package: str  # ONNXRUNTIME_CPU or ONNXRUNTIME_GPU
    reason: str

    @property
    def other(self) -> str:
        """The package that must go: it would overwrite this one's `onnxruntime` module."""
        return ONNXRUNTIME_CPU if self.package == ONNXRUNTIME_GPU else ONNXRUNTIME_GPU


def cuda_major(tag: str | None) -> str | None:
    """'cu128' -> '12', 'cu118' -> '11'."""
    match = re.fullmatch(r"cu(\d+)\d", tag or "")
    return match.group(1) if match else None


def choose_onnxruntime(plan: TorchPlan, torch_cuda: str | None = None) -> OnnxRuntimePlan:
    """onnxruntime-gpu beside a CUDA 12 build of PyTorch, onnxruntime otherwise (see ONNXRUNTIME_GPU_CUDA).

    `torch_cuda` is torch.version.cuda of the torch installed (e.g. '13.0'), when that is not the planned build
    (--no-torch-index: pip's sources decide it); the plan's tag is used without it.
    """
    build = f"CUDA {torch_cuda}" if torch_cuda else plan.tag
    major = torch_cuda.split(".")[0] if torch_cuda else cuda_major(plan.tag)
    if plan.kind == "cuda" and major == ONNXRUNTIME_GPU_CUDA:
        return OnnxRuntimePlan(ONNXRUNTIME_GPU, f"{ONNXRUNTIME_GPU} (CUDA {major}, like PyTorch's {build} "
                               "build): learned styles run on the GPU")  # fmt: skip
    if plan.kind == "cuda":
        return OnnxRuntimePlan(ONNXRUNTIME_CPU, f"{ONNXRUNTIME_CPU}: {ONNXRUNTIME_GPU} needs CUDA "
                               f"{ONNXRUNTIME_GPU_CUDA} and PyTorch's {build} build is CUDA {major}, so learned "
                               "styles run on the CPU")  # fmt: skip
    return OnnxRuntimePlan(ONNXRUNTIME_CPU, f"{ONNXRUNTIME_CPU}: learned styles run on the CPU")


def torch_cuda_version(python: Path) -> str | None:
    """torch.version.cuda of the torch installed for `python` ('12.8'), None for a CPU build or no torch."""
    proc = subprocess.run([str(python), "-c", "import torch; print(torch.version.cuda or '')"], capture_output=True,
                          text=True, env=clean_env(), cwd=neutral_cwd())  # fmt: skip
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def onnxruntime_pip_args(ort: OnnxRuntimePlan) -> list[str]:
    """`pip install` arguments for ONNX Runtime and the exporter's packages."""
    return ["install", "--upgrade", ort.package + ONNXRUNTIME_VERSION, *LEARNING_PACKAGES]


_INSTALLED = """import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue
    print(name)
"""


def installed_distributions(python: Path | str, names: Sequence[str]) -> list[str]:
    """Which of `names` are installed where `python` looks (its venv, and a --reuse-packages-from .pth)."""
    proc = subprocess.run([str(python), "-c", _INSTALLED, *names], capture_output=True, text=True,
                          env=clean_env(), cwd=neutral_cwd())  # fmt: skip
    return proc.stdout.split() if proc.returncode == 0 else []


def install_onnxruntime(python: Path, ort: OnnxRuntimePlan, tmp: Path, extra: Sequence[str] = (),
                        cache: Path | None = None) -> None:
    """Install `ort.package`, first removing the other one (a repair after a new GPU, or after --torch cpu)."""
    if installed_distributions(python, [ort.other]):
        # Both go: removing the other deletes files of the `onnxruntime` module they share, which this one
        # may have installed too; pip's own options only (uninstall refuses --index-url and friends).
        say(f"  Removing {ort.other}: {ort.package} replaces it (they cannot be installed together)")
        run_pip(python, ["uninstall", "--yes", ort.other, ort.package], f"removing {ort.other}", tmp)
    say(f"  Installing ONNX Runtime ({ort.package}) for learned styles")
    run_pip(python, onnxruntime_pip_args(ort), "installing ONNX Runtime", tmp, extra, cache)


# ---------------------------------------------------------------- running things


def neutral_cwd() -> str:
    """Where the engine's Python runs: never inside this checkout, whose nst_engine/ would shadow the installed one."""
    return tempfile.gettempdir()


def clean_env() -> dict[str, str]:
    """The environment for the engine's Python: no PYTHONPATH/PYTHONHOME from elsewhere."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_USER")}


def run_shown(command: Sequence[str], tail_lines: int = 40) -> tuple[int, str]:
    """Run `command`, showing its output as it comes; return (exit status, last lines) to explain failures."""
    try:
        proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=clean_env(), cwd=neutral_cwd())  # fmt: skip
    except OSError as error:
        return 127, str(error)
    assert proc.stdout is not None
    kept = b""
    out = getattr(sys.stdout, "buffer", None)
    while True:
        chunk = proc.stdout.read1(4096)
        if not chunk:
            break
        if out is not None:
            out.write(chunk)
            out.flush()
        else:
            sys.stdout.write(chunk.decode(errors="replace"))
        kept = (kept + chunk)[-20000:]
    proc.wait()
    text = kept.decode(errors="replace").replace("\r", "\n")
    return proc.returncode, "\n".join([line for line in text.splitlines() if line.strip()][-tail_lines:])


NETWORK_SIGNS = (
    "Failed to establish a new connection", "Temporary failure in name resolution", "Name or service not known",
    "Read timed out", "ConnectionError", "NewConnectionError", "ProxyError", "SSLError", "Connection reset",
    "Network is unreachable",
)  # fmt: skip
NOT_FOUND_SIGNS = ("No matching distribution", "Could not find a version")


def pip_failure(what: str, tail: str, log: Path | None = None) -> InstallError:
    """One plain paragraph for a failed pip run: what failed, the likely cause, the log's path, what to try."""
    where = f" pip's messages are in {log}." if log else ""
    if "No space left" in tail:
        return InstallError(f"The disk filled up while {what}.{where} Free some disk space and {RUN_AGAIN}.")
    if any(sign in tail for sign in NETWORK_SIGNS):
        torch = (" If only PyTorch's own download site cannot be reached, run the installer with --no-torch-index "
                 "to take PyTorch from pip's usual sources." if what == "installing PyTorch" else "")
        return InstallError(
            f"Could not download the packages while {what}: the package index could not be reached.{where} Check "
            "the internet connection (behind a proxy: --pip-args='--proxy http://HOST:PORT'; with a local mirror: "
            f"--pip-args='--index-url URL'), then {RUN_AGAIN}.{torch}"
        )
    if any(sign in tail for sign in NOT_FOUND_SIGNS):
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        return InstallError(
            f"pip found no package to install while {what}: there may be none for Python {version} on this "
            f"system yet.{where} Install Python 3.12 from python.org and run the installer with it; if the "
            "internet connection is the problem, check it and run this installer again."
        )
    return InstallError(f"pip failed while {what}.{where} {RETRY}; if it fails again, report the end of that file.")


def check_free_space(folder: Path, need_bytes: float, what: str) -> None:
    """Refuse before a 2 GB download fills the disk halfway."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need_bytes:
        raise InstallError(
            f"Not enough free disk space: {what} needs about {need_bytes / GB:.1f} GB in {probe}, "
            f"and only {free / GB:.1f} GB is free. Free some space (empty the trash, delete large files) and "
            "run this installer again."
        )


# ---------------------------------------------------------------- manifest


def load_manifest(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def save_manifest(path: Path, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _add_unique(manifest: dict, key: str, value: str) -> None:
    items = manifest.setdefault(key, [])
    if value not in items:
        items.append(value)


# ---------------------------------------------------------------- step 2: the engine


def ensure_venv(venv: Path, platform: str) -> Path:
    """Reuse a working venv (repair/upgrade), else make one with the Python running this installer."""
    python = venv_python(venv, platform)
    if python.exists():
        check = "import sys; sys.exit(sys.version_info < (3, 10))"
        probe = subprocess.run([str(python), "-c", check], capture_output=True, env=clean_env(), cwd=neutral_cwd())
        if probe.returncode == 0:
            say(f"  Reusing the engine's Python environment in {venv}")
            return python
        if not (venv / "pyvenv.cfg").is_file():
            raise InstallError(f"{venv} exists but is not a Python environment: move it away and {RUN_AGAIN}.")
        say(f"  The Python environment in {venv} is broken (Python was upgraded?): making it again")
        shutil.rmtree(venv)
    say(f"  Making a Python environment for the engine in {venv}")
    venv.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True,
                          env=clean_env(), cwd=neutral_cwd())  # fmt: skip
    if proc.returncode != 0 or not python.exists():
        shutil.rmtree(venv, ignore_errors=True)
        text = proc.stdout + proc.stderr
        if "ensurepip" in text or "venv" in text:
            raise InstallError(
                "This Python cannot make virtual environments. On Debian or Ubuntu run "
                f"`sudo apt install python3-venv` (or python{sys.version_info[0]}.{sys.version_info[1]}-venv), "
                "then run this installer again."
            )
        raise InstallError(f"Could not make the Python environment in {venv}: {text.strip()[-500:]}")
    return python


def site_packages(python: Path | str) -> tuple[tuple[int, int], list[str]]:
    code = "import json, sys, sysconfig; p = sysconfig.get_paths(); " \
           "print(json.dumps([sys.version_info[:2], sorted({p['purelib'], p['platlib']})]))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=clean_env(), cwd=neutral_cwd())
    if proc.returncode != 0:
        raise InstallError(f"Could not run {python}: {proc.stderr.strip()[-300:]}. Give a working Python.")
    version, folders = json.loads(proc.stdout)
    return (version[0], version[1]), folders


REUSE_PTH = "_nst_reuse_packages.pth"


def link_packages(python: Path, other: str | None) -> None:
    """--reuse-packages-from: let the venv see another Python's packages (torch...) through a .pth file."""
    _, own = site_packages(python)
    pth = Path(own[0]) / REUSE_PTH
    if other is None:
        pth.unlink(missing_ok=True)
        return
    version, folders = site_packages(other)
    mine, _ = site_packages(python)
    if version != mine:
        raise InstallError(
            f"--reuse-packages-from {other} is Python {version[0]}.{version[1]} but the engine's environment is "
            f"{mine[0]}.{mine[1]}: give a Python of the same version."
        )
    pth.write_text("\n".join(folders) + "\n", encoding="utf-8")
    say(f"  Using the packages of {other} ({', '.join(folders)}) instead of installing PyTorch")


def engine_source(tmp: Path) -> Path:
    """A copy of the engine's sources: pip builds there, leaving the download (maybe read-only) untouched."""
    target = tmp / "nst-engine-src"
    shutil.copytree(REPO / "nst_engine", target / "nst_engine", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    return target


PIP_ARGS_ENV = "NST_INSTALL_PIP_ARGS"


def extra_pip_args(given: str | None, env: Mapping[str, str]) -> list[str]:
    """--pip-args (else $NST_INSTALL_PIP_ARGS): a mirror, proxy or local wheel folder for every `pip install`."""
    text = given if given is not None else env.get(PIP_ARGS_ENV, "")
    return shlex.split(text, posix=os.name != "nt")


def pip_cache(cache_dir: Path) -> Path:
    """pip's download cache, inside the engine's cache (a re-run after a failure does not download torch again;
    uninstall can find it); emptied once the engine is installed."""
    return cache_dir / "pip-cache"


def run_pip(python: Path, pip_args: Sequence[str], what: str, tmp: Path, extra: Sequence[str] = (),
            cache: Path | None = None) -> None:
    """pip with its output in the log (LOG, else a file in `tmp`); the screen shows downloads, sizes, progress."""
    log = LOG or tmp / "pip.log"
    command = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *pip_args, *extra]
    env = {**clean_env(), "PYTHONUNBUFFERED": "1"}  # pip's lines as they come, not in bursts
    if cache is not None and "PIP_CACHE_DIR" not in env:
        env["PIP_CACHE_DIR"] = str(cache)
    try:
        run = pip_log.run_logged(command, log, say, env=env, cwd=neutral_cwd())
    except OSError as error:
        raise InstallError(f"Could not run pip ({error}): {RUN_AGAIN}.") from None
    if run.code != 0:
        raise pip_failure(what, "\n".join(run.tail), log)
    done = pip_log.summary(run)
    if done:
        say(done)


def install_engine(python: Path, plan: TorchPlan, ort: OnnxRuntimePlan, args: argparse.Namespace, cache_dir: Path,
                   env: Mapping[str, str]) -> None:
    extras = "[matconvnet]" if args.weights and Path(args.weights).suffix.lower() == ".mat" else ""
    extra = extra_pip_args(args.pip_args, env)
    cache = pip_cache(cache_dir)
    if extra:
        say(f"  Extra pip options: {' '.join(extra)}")
    with tempfile.TemporaryDirectory(prefix="nst-install-") as name:
        tmp = Path(name)
        if args.reuse_packages_from is None:
            where = "pip's configured sources" if args.no_torch_index or not plan.index_url else plan.index_url
            say(f"  Installing PyTorch ({args.torch_spec}) from {where}")
            run_pip(python, torch_pip_args(plan, args.torch_spec, not args.no_torch_index), "installing PyTorch", tmp,
                    extra, cache)  # fmt: skip
        say("  Installing the engine and its other packages")
        run_pip(python, ["install", "--upgrade", f"{engine_source(tmp)}{extras}"], "installing the engine", tmp,
                extra, cache)  # fmt: skip
        if args.reuse_packages_from is None:  # else the other Python's onnxruntime, like its torch
            if args.no_torch_index and plan.kind == "cuda":  # pip's sources chose the CUDA version, not the plan
                chosen = choose_onnxruntime(plan, torch_cuda_version(python))
                if chosen != ort:
                    say(f"  ONNX Runtime: {chosen.reason}")
                ort = chosen
            install_onnxruntime(python, ort, tmp, extra, cache)
    shutil.rmtree(cache, ignore_errors=True)  # GBs of wheels nobody needs once installed
    proc = subprocess.run([str(python), "-c", "import torch, nst_engine; print(torch.__version__)"],
                          capture_output=True, text=True, env=clean_env(), cwd=neutral_cwd())  # fmt: skip
    if proc.returncode != 0:
        raise InstallError(f"The engine was installed but does not start: {proc.stderr.strip()[-500:]}. "
                           f"{RETRY}; if it fails again, report this message.")
    say(f"  Engine installed (PyTorch {proc.stdout.strip()})")


# ---------------------------------------------------------------- step 3: weights


def weights_format(python: Path, path: Path, shown: Path | None = None) -> str:
    """The format the engine detects in `path` (`nst-engine info --json --weights`), or InstallError with its
    reason (naming `shown`, the person's own file, when `path` is the installer's copy of it)."""
    proc = subprocess.run([str(python), "-m", "nst_engine", "info", "--json", "--weights", str(path)],
                          capture_output=True, text=True, env=clean_env(), cwd=neutral_cwd())  # fmt: skip
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        info = None
    info = info if isinstance(info, dict) else {}
    fmt = info.get("weights_format")
    if proc.returncode == 0 and info.get("weights_usable") and fmt in OFFICIAL_WEIGHTS:
        return fmt
    reason = info.get("weights_error") or (proc.stderr.strip().splitlines() or ["the engine could not read it"])[-1]
    raise InstallError(f"The engine cannot use {shown or path}: {reason}")


FORMAT_WORDS = {  # what each format the engine detects is, in words
    "torchvision": "torchvision's VGG-19 weights",
    "caffe": "the Caffe-converted VGG-19 weights (the original paper's network)",
    "matconvnet": "MatConvNet's VGG-19 weights",
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def same_file_in(source: Path, folder: Path) -> Path | None:
    """The file under an official name in `folder` with `source`'s contents (size first, then SHA-256)."""
    size = source.stat().st_size
    for name in OFFICIAL_WEIGHTS.values():
        present = folder / name
        if present.is_file() and present.stat().st_size == size and present.resolve() != source.resolve():
            if sha256_of(present) == sha256_of(source):
                return present
        elif present.is_file() and present.resolve() == source.resolve():
            return present
    return None


def install_weights(python: Path, weights_dir: Path, args: argparse.Namespace, given: Sequence[str] = ()) -> Path:
    """--weights FILE copied in under its official name, else `fetch-weights` (resumes, checks SHA-256).

    `given`: files an earlier run copied in from --weights. A repair keeps them: fetch-weights would
    delete a torchvision-format file whose SHA-256 is not the official one and download it again.
    """
    if args.weights:
        source = Path(args.weights).expanduser()
        if not source.is_file():
            raise InstallError(f"There is no file {source}: check the name given to --weights and run again.")
        weights_dir.mkdir(parents=True, exist_ok=True)
        same = same_file_in(source, weights_dir)
        if same is not None:  # a re-run: the copy is there (same SHA-256); the engine still says what it is
            fmt = weights_format(python, same, shown=source)
            say(f"  {source.name}: {FORMAT_WORDS[fmt]}, already in place as {same} (same SHA-256): not copied "
                "again")
            return same
        # The engine checks a copy: checking the file where it is would leave its checksum file beside it.
        inside = source.resolve().parent == weights_dir.resolve()
        checked = source if inside else weights_dir / f"{source.name}.copying"
        if not inside:
            say(f"  Copying {source} into {weights_dir}")
            shutil.copyfile(source, checked)
        try:
            fmt = weights_format(python, checked, shown=source)
        except InstallError:
            if not inside:
                checked.unlink(missing_ok=True)
            raise
        finally:
            if not inside:
                checked.with_name(checked.name + ".sha256").unlink(missing_ok=True)
        name = source.name if source.name in OFFICIAL_WEIGHTS.values() else OFFICIAL_WEIGHTS[fmt]
        target = weights_dir / name
        if checked != target:
            if inside:
                shutil.copyfile(checked, target)
            else:
                os.replace(checked, target)
            target.with_name(target.name + ".sha256").unlink(missing_ok=True)  # the engine recomputes it
        say(f"  {source.name}: {FORMAT_WORDS[fmt]} (as the engine reads it), installed as {target}")
        return target
    if not args.weights_url:
        for fmt in ("torchvision", "caffe", "matconvnet"):  # the order the engine looks for them in
            present = weights_dir / OFFICIAL_WEIGHTS[fmt]
            if not present.is_file():
                continue
            if fmt == "torchvision" and str(present) not in given:
                break  # downloaded: fetch-weights checks it (and repairs it) below
            weights_format(python, present)
            say(f"  Using the {fmt} weights already there: {present}")
            return present
    target = weights_dir / OFFICIAL_WEIGHTS["torchvision"]
    command = [str(python), "-m", "nst_engine", "fetch-weights", "--dest", str(target)]
    if args.weights_url:
        command += ["--url", args.weights_url]
    if args.weights_sha256:
        command += ["--sha256", args.weights_sha256]
    code, tail = run_shown(command)
    if code != 0:
        line = next((ln for ln in reversed(tail.splitlines()) if "error" in ln.lower()), tail.strip()[-300:])
        line = re.sub(r"\[Errno -?\d+\] ", "", line.split("error:", 1)[-1].strip())  # the reason, not its number
        first = line.split(". ", 1)[0].rstrip(".")  # the engine's own advice names nst-engine commands
        checksum = re.search(r"SHA-256 ([0-9a-f]+), not ([0-9a-f.]+)", line)
        if checksum:
            raise InstallError(
                f"The downloaded weights failed their checksum check (SHA-256 {checksum.group(1)}, expected "
                f"{checksum.group(2)}) and were deleted. This is usually a broken download: {RUN_AGAIN}."
            )
        raise InstallError(
            f"The VGG-19 weights could not be downloaded: {first}. Check the internet connection and {RUN_AGAIN}, "
            "or download the file yourself and run the installer with --weights FILE."
        )
    return target


# ---------------------------------------------------------------- step 4: the plug-in


def engine_config(python: Path, cache_dir: Path, weights: Path | None, spawn_prefix: list[str],
                  old: Mapping[str, object]) -> dict[str, object]:
    """engine.json's contents; a person's own `url`/`token` (remote engine) survive a repair."""
    command = [str(python), "-m", "nst_engine", "serve", "--port", "0", "--idle-timeout", "1800"]
    if weights is not None:
        command += ["--weights", str(weights)]
    config = dict(old)
    config.update({
        "python": str(python),
        "command": command,
        "state_file": str(cache_dir / contract.STATE_FILE_NAME),
        "url": old.get("url") or None,
        "token": old.get("token") or None,
        "spawn_prefix": spawn_prefix,
    })
    return config


def allow_flatpak_spawn(which: Callable[[str], str | None] = shutil.which) -> bool:
    """A Flatpak GIMP can start the engine only through flatpak-spawn --host, which this permission allows."""
    program = which("flatpak")
    if not program:
        return False
    proc = subprocess.run([program, *FLATPAK_OVERRIDE[1:]], capture_output=True, text=True)
    return proc.returncode == 0


def install_plugin(profile: Profile, python: Path, cache_dir: Path, weights: Path | None,
                   which: Callable[[str], str | None] = shutil.which) -> Path:
    """Copy the plug-in's *.py into the profile (run bit on the main file) and write engine.json.

    The folder is the plug-in as it stands (its contract included): a manual copy gives the same files."""
    target = profile.plugin_dir
    if profile.created and not profile.path.exists():
        say(f"  GIMP 3 has no settings folder yet: making {profile.path / 'plug-ins'}")
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*.py"):
        stale.unlink()
    for source in sorted(PLUGIN_SRC.glob("*.py")):
        shutil.copy2(source, target / source.name)
    (target / f"{PLUGIN_NAME}.py").chmod(0o755)
    config_path = target / "engine.json"
    old: dict = {}
    if config_path.is_file():
        try:
            old = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
    spawn: list[str] = []
    if profile.kind == "flatpak":
        spawn = list(FLATPAK_SPAWN)
        if allow_flatpak_spawn(which):
            say(f"  Flatpak GIMP: allowed it to start the engine outside its sandbox ({' '.join(FLATPAK_OVERRIDE)})")
        else:
            say(f"  Flatpak GIMP: to let it start the engine, run this once: {' '.join(FLATPAK_OVERRIDE)}")
    config = engine_config(python, cache_dir, weights, spawn, old if isinstance(old, dict) else {})
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    kept = " (your engine address in engine.json was kept)" if config["url"] else ""
    say(f"  Plug-in installed in {target}{kept}")
    return target


# ---------------------------------------------------------------- step 5: self test


def write_png(path: Path, width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> None:
    """An 8-bit RGB PNG with zlib and struct (the engine's Python has PIL, this one does not)."""
    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) +
                     chunk(b"IEND", b""))  # fmt: skip


def self_test(python: Path, weights: Path | None) -> None:
    """The engine stylises a tiny picture: proves torch, the weights and the engine work together."""
    with tempfile.TemporaryDirectory(prefix="nst-selftest-") as tmp:
        content, style, out = Path(tmp) / "content.png", Path(tmp) / "style.png", Path(tmp) / "out.png"
        write_png(content, 48, 32, lambda x, y: (5 * x, 7 * y, 255 - 4 * x) if (x - 24) ** 2 + (y - 16) ** 2 > 90
                  else (240, 220, 40))  # fmt: skip
        write_png(style, 32, 32, lambda x, y: (200, 40, 40) if (x // 4 + y // 4) % 2 else (30, 60, 180))
        command = [str(python), "-m", "nst_engine", "stylize", str(content), str(style), "-o", str(out),
                   "--size", "64", "--iterations", "3", "--scales", "1", "--quiet"]  # fmt: skip
        if weights is not None:
            command += ["--weights", str(weights)]
        code, tail = run_shown(command)
        if code != 0 or not out.is_file() or out.stat().st_size == 0:
            last = tail.strip().splitlines()[-1] if tail.strip() else f"exit status {code}"
            raise InstallError(f"The self test failed: {last}. {RETRY}; if it fails "
                               "again, report the lines above.")


# ---------------------------------------------------------------- install and uninstall


def install(args: argparse.Namespace, platform: str, env: Mapping[str, str], home: Path) -> int:
    cache_dir, data_dir = engine_dirs(platform, env, home)
    venv = data_dir / "venv"
    manifest_path = data_dir / MANIFEST_NAME
    weights_dir = cache_dir / "weights"
    step(1, "checking this computer (Python, GIMP 3, graphics card, disk space)...")
    for needed in (PLUGIN_SRC / f"{PLUGIN_NAME}.py", REPO / "pyproject.toml", REPO / "nst_engine"):
        if not needed.exists():
            raise InstallError(f"{needed} is missing: download the whole project again and run the installer from it.")
    say(f"  Python {sys.version.split()[0]} ({sys.executable})")
    profiles = choose_profiles(args.gimp_profile, platform, env, home)
    for profile in profiles:
        note = " (new: GIMP 3 is installed but was never started)" if profile.created else ""
        say(f"  GIMP 3 settings folder{' (' + profile.kind + ')' if profile.kind != 'native' else ''}: "
            f"{profile.path}{note}")  # fmt: skip
    import platform as platform_module

    plan = choose_torch(args.torch, platform, platform_module.machine(),
                        nvidia_driver() if args.torch != "cpu" else None)  # fmt: skip
    ort = choose_onnxruntime(plan)
    if args.reuse_packages_from is not None:
        say(f"  PyTorch and ONNX Runtime: reused from {args.reuse_packages_from} (--reuse-packages-from)")
        need = 0.3 * GB
    else:
        say(f"  PyTorch: {plan.reason}")
        say(f"  ONNX Runtime: {ort.reason}")
        need = plan.need_bytes if not venv_python(venv, platform).exists() else 1 * GB
        if args.no_torch_index and platform == "linux":
            need = max(need, 6 * GB)  # PyPI's Linux torch brings the CUDA libraries
            if plan.kind == "cpu" and platform_module.machine().lower() in ("x86_64", "amd64"):
                say(f"  Note: {NO_INDEX_CPU}")
    need += 0 if any((weights_dir / name).is_file() for name in OFFICIAL_WEIGHTS.values()) else WEIGHTS_BYTES
    check_free_space(data_dir, need, "the engine")
    say(f"  Free disk space: enough (about {need / GB:.1f} GB needed)")

    big = plan.kind == "cuda" or (args.no_torch_index and platform == "linux")
    size = "a few MB" if args.reuse_packages_from else ("about 2.5 GB" if big else "about 300 MB")
    step(2, f"installing the engine (this downloads {size} the first time)...")
    global LOG
    LOG = pip_log.new_log(data_dir / LOG_NAME, f"Neural Style Transfer installer, Python {sys.version.split()[0]}, "
                          f"options: {' '.join(sys.argv[1:]) or '(none)'}")
    say(f"  pip's messages go to {LOG}")
    python = ensure_venv(venv, platform)
    manifest = load_manifest(manifest_path)
    manifest.update({"format": 1, "venv": str(venv), "source": str(REPO)})
    save_manifest(manifest_path, manifest)
    link_packages(python, args.reuse_packages_from)
    install_engine(python, plan, ort, args, cache_dir, env)

    step(3, "getting the VGG-19 weights the engine needs (548 MB the first time)...")
    weights = install_weights(python, weights_dir, args, manifest.get("weights_given", []))
    _add_unique(manifest, "weights", str(weights))
    if args.weights:
        _add_unique(manifest, "weights_given", str(weights))
    save_manifest(manifest_path, manifest)
    say(f"  Weights ready: {weights}")

    step(4, "installing the plug-in into GIMP...")
    pinned = weights if env.get("NST_ENGINE_HOME") else None  # GIMP will not have NST_ENGINE_HOME set
    for profile in profiles:
        folder = install_plugin(profile, python, cache_dir, pinned)
        _add_unique(manifest, "plugin_dirs", str(folder))
        if profile.kind == "flatpak":
            manifest["flatpak_override"] = True
        save_manifest(manifest_path, manifest)

    if args.skip_self_test:
        step(5, "self test skipped (--skip-self-test).")
    else:
        step(5, "self test: the engine stylises a tiny picture (a few seconds to a minute)...")
        self_test(python, pinned)
        say("  Self test passed.")
    say()
    say(READY)
    say("(If GIMP was open, close and start it again so it finds the filter.)")
    return 0


def _remove_tree(path: Path, what: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        raise InstallError(f"Could not remove {what} {path}: close GIMP (and the engine) and run the uninstall again.")
    say(f"  Removed {what} {path}")


def uninstall(args: argparse.Namespace, platform: str, env: Mapping[str, str], home: Path) -> int:
    """Remove exactly what the manifest lists (plug-in folders, venv; weights only with --remove-weights)."""
    cache_dir, data_dir = engine_dirs(platform, env, home)
    manifest_path = data_dir / MANIFEST_NAME
    manifest = load_manifest(manifest_path)
    say("Uninstalling Neural Style Transfer (close GIMP first if it is open)...")
    if not manifest:
        say(f"  No record of an installation in {manifest_path}: removing the usual places only.")
        try:
            profiles = choose_profiles(args.gimp_profile, platform, env, home)
        except InstallError:
            profiles = []
        manifest = {"venv": str(data_dir / "venv"),
                    "plugin_dirs": [str(p.plugin_dir) for p in profiles if p.plugin_dir.is_dir()]}  # fmt: skip
    for folder in map(Path, manifest.get("plugin_dirs", [])):
        if (folder / f"{PLUGIN_NAME}.py").is_file() or (folder / "engine.json").is_file():
            _remove_tree(folder, "the plug-in")
    venv = Path(manifest.get("venv") or data_dir / "venv")
    if (venv / "pyvenv.cfg").is_file():
        _remove_tree(venv, "the engine")
    runtime = ["server.json", "server.json.lock", "token", "engine.log"]  # the engine's own runtime files
    for path in [*(cache_dir / name for name in runtime), *cache_dir.glob("server.json.*.tmp")]:
        path.unlink(missing_ok=True)
    if pip_cache(cache_dir).is_dir():  # left by an installation that stopped half-way
        _remove_tree(pip_cache(cache_dir), "downloaded packages")
    weights = [Path(p) for p in manifest.get("weights", [])]
    weights += [cache_dir / "weights" / name for name in OFFICIAL_WEIGHTS.values() if cache_dir / "weights" / name
                not in weights]  # fmt: skip
    if args.remove_weights:
        for path in weights:
            for file in (path, path.with_name(path.name + ".sha256"), path.with_name(path.name + ".part")):
                if file.is_file():
                    file.unlink()
                    say(f"  Removed {file}")
    elif any(path.is_file() for path in weights):
        kept = [path for path in weights if path.is_file()]
        say(f"  Kept the VGG-19 weights {', '.join(str(p) for p in kept)} (add --remove-weights to delete them too).")
    if manifest.get("flatpak_override"):
        say("  The Flatpak permission was left in place; to remove it run: "
            f"flatpak override --user --no-talk-name=org.freedesktop.Flatpak {FLATPAK_APP}")  # fmt: skip
    manifest_path.unlink(missing_ok=True)
    (data_dir / LOG_NAME).unlink(missing_ok=True)
    for folder in (cache_dir / "weights", cache_dir, data_dir):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    say("Neural Style Transfer was uninstalled.")
    return 0


# ---------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="install.py",
        description="Install (or repair, upgrade, uninstall) Neural Style Transfer for GIMP 3: the engine, the "
        "VGG-19 weights and the plug-in. Without options it does everything and needs no answers.",
    )
    p.add_argument("--torch", choices=("auto", "cpu", "cuda"), default="auto",
                   help="PyTorch build: auto (CUDA with an NVIDIA GPU, MPS on Apple silicon, else CPU), cpu, cuda")
    p.add_argument("--torch-spec", default="torch torchvision", metavar="SPEC",
                   help="pip requirements for PyTorch, e.g. 'torch==2.14.1 torchvision==0.29.1'")
    p.add_argument("--no-torch-index", action="store_true",
                   help="install PyTorch from pip's configured sources (PyPI or a local mirror), "
                   "not download.pytorch.org")
    p.add_argument("--pip-args", metavar="ARGS",
                   help=f"extra options for every `pip install`, e.g. --pip-args='--proxy http://proxy:3128' or a "
                   f"mirror's --index-url (default: ${PIP_ARGS_ENV})")
    p.add_argument("--reuse-packages-from", metavar="PYTHON",
                   help="testing/offline: let the engine use the packages (torch...) of PYTHON, same Python version, "
                   "instead of installing PyTorch (a .pth file in the engine's environment points at them)")
    p.add_argument("--weights", metavar="FILE",
                   help="a VGG-19 weights file you already have (vgg19-dcbb9e9d.pth, vgg19-d01eb7cb.pth or "
                   "imagenet-vgg-verydeep-19.mat); it is copied into the engine's weights folder")
    p.add_argument("--weights-url", metavar="URL", help="download the weights from URL instead of the official one")
    p.add_argument("--weights-sha256", metavar="HEX", help="the expected SHA-256 of the downloaded weights")
    p.add_argument("--gimp-profile", action="append", default=[], metavar="DIR",
                   help="install the plug-in into this GIMP 3 settings folder only (repeatable), "
                   "e.g. ~/.config/GIMP/3.0")
    p.add_argument("--skip-self-test", action="store_true", help="do not stylise a test picture at the end")
    p.add_argument("--uninstall", action="store_true", help="remove the plug-in and the engine")
    p.add_argument("--remove-weights", action="store_true", help="with --uninstall: delete the weights too")
    return p


def find_other_python() -> list[str] | None:
    """A Python 3.10+ on this system, for when this one is too old."""
    candidates = [[name] for name in PYTHON_NAMES]
    if sys.platform == "win32":
        candidates = [["py", f"-3.{minor}"] for minor in (13, 12, 11, 10)] + [["py", "-3"], *candidates]
    for command in candidates:
        if command[0] != "py" and not shutil.which(command[0]):
            continue
        try:
            ok = subprocess.run([*command, "-c", "import sys; sys.exit(sys.version_info < (3, 10))"],
                                capture_output=True, timeout=30).returncode == 0  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            continue
        if ok:
            return command
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if sys.version_info < MIN_PYTHON:
        other = find_other_python()
        if other is None:
            say("Python 3.10 or newer was not found: install Python 3.12 from python.org (on Linux: your "
                "distribution's python3 and python3-venv packages), then run this installer again.")  # fmt: skip
            return 1
        return subprocess.call([*other, str(Path(__file__).resolve()), *argv])
    args = build_parser().parse_args(argv)
    for name in ("weights", "reuse_packages_from"):  # the engine's Python runs elsewhere (neutral_cwd)
        value = getattr(args, name)
        if value and (os.sep in value or "/" in value):
            setattr(args, name, str(Path(value).expanduser().absolute()))
    if args.remove_weights and not args.uninstall:
        build_parser().error("--remove-weights goes with --uninstall")
    env = dict(os.environ)
    try:
        if args.uninstall:
            return uninstall(args, sys.platform, env, Path.home())
        say("Installing Neural Style Transfer for GIMP 3. This needs no answers; it takes a few minutes.")
        return install(args, sys.platform, env, Path.home())
    except InstallError as error:
        say()
        say(f"Installation stopped: {error.message}" if not args.uninstall else f"Uninstall stopped: {error.message}")
        return 1
    except KeyboardInterrupt:
        say()
        say(f"Stopped. To finish, {RUN_AGAIN}.")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
