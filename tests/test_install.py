"""The installer (install/install.py): profile discovery, torch build choice, and a real install.

Discovery and the torch choice run on fake home trees and fake nvidia-smi / flatpak / gimp programs.
The real install (marked slow) makes a real venv in a temporary NST_ENGINE_HOME, but does not download
PyTorch again: `--reuse-packages-from` points the new venv at this test run's own site-packages with a
.pth file (seconds and a few MB, instead of ~1-2 minutes and 5.5 GB per install). The weights come from
a local HTTP server, checked by SHA-256 like the official download.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from types import ModuleType

import pytest
from conftest import loopback_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "install"))

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "install" / "install.py"
PLUGIN_SRC = REPO / "gimp_plugin" / "neural_style_transfer"
PLUGIN_FILES = sorted(p.name for p in PLUGIN_SRC.glob("*.py"))  # the folder as it stands is the plug-in


def _load_installer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nst_install", INSTALL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nst_install"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


inst = _load_installer()


def no_programs(name: str) -> str | None:
    return None


def fake_program(folder: Path, name: str, script: str) -> Path:
    """An executable shell script standing in for nvidia-smi, gimp or flatpak."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def make_profiles(*folders: Path) -> None:
    for folder in folders:
        folder.mkdir(parents=True)


# ---------------------------------------------------------------- where things go


def test_engine_dirs_match_the_engine_paths_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nst_engine import contract

    monkeypatch.delenv("NST_ENGINE_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xc"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xd"))
    assert inst.engine_dirs(sys.platform, dict(os.environ), Path.home()) == (contract.cache_dir(), contract.data_dir())
    monkeypatch.setenv("NST_ENGINE_HOME", str(tmp_path / "h"))
    assert inst.engine_dirs(sys.platform, dict(os.environ), Path.home()) == (contract.cache_dir(), contract.data_dir())


def test_engine_dirs_per_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert inst.engine_dirs("linux", {}, home) == (home / ".cache/nst-engine", home / ".local/share/nst-engine")
    win = inst.engine_dirs("win32", {"LOCALAPPDATA": str(tmp_path / "Local")}, home)
    assert win == (tmp_path / "Local/nst-engine/cache", tmp_path / "Local/nst-engine")
    mac = inst.engine_dirs("darwin", {}, home)
    assert mac == (home / "Library/Caches/nst-engine", home / "Library/Application Support/nst-engine")
    assert inst.engine_dirs("darwin", {"NST_ENGINE_HOME": str(tmp_path / "x")}, home) == (
        tmp_path / "x/cache", tmp_path / "x/data")
    assert inst.venv_python(tmp_path, "win32") == tmp_path / "Scripts/python.exe"


# ---------------------------------------------------------------- GIMP profiles


def test_linux_profiles_native_flatpak_snap_with_xdg_config_home(tmp_path: Path) -> None:
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    make_profiles(
        xdg / "GIMP/3.0", xdg / "GIMP/3.2", xdg / "GIMP/2.10", home / ".config/GIMP/3.0",  # ~/.config is not used
        home / ".var/app/org.gimp.GIMP/config/GIMP/3.0", home / "snap/gimp/current/.config/GIMP/3.2",
    )
    found = inst.find_profiles("linux", {"XDG_CONFIG_HOME": str(xdg)}, home)
    assert [(p.path, p.kind) for p in found] == [
        (xdg / "GIMP/3.0", "native"), (xdg / "GIMP/3.2", "native"),
        (home / ".var/app/org.gimp.GIMP/config/GIMP/3.0", "flatpak"),
        (home / "snap/gimp/current/.config/GIMP/3.2", "snap"),
    ]
    assert found[0].plugin_dir == xdg / "GIMP/3.0/plug-ins/neural_style_transfer"


def test_linux_profile_without_xdg_config_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_profiles(home / ".config/GIMP/3.0")
    assert [p.path for p in inst.find_profiles("linux", {}, home)] == [home / ".config/GIMP/3.0"]


def test_windows_profiles_in_appdata(tmp_path: Path) -> None:
    home, appdata = tmp_path / "home", tmp_path / "Roaming"
    make_profiles(appdata / "GIMP/3.0", appdata / "GIMP/2.10", home / ".config/GIMP/3.2")
    found = inst.find_profiles("win32", {"APPDATA": str(appdata)}, home)
    assert [(p.path, p.kind) for p in found] == [(appdata / "GIMP/3.0", "native")]


def test_macos_profiles_in_application_support(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_profiles(home / "Library/Application Support/GIMP/3.2", home / ".config/GIMP/3.0")
    found = inst.find_profiles("darwin", {}, home)
    assert [p.path for p in found] == [home / "Library/Application Support/GIMP/3.2"]


def test_no_gimp_at_all_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(inst.InstallError) as error:
        inst.choose_profiles([], "linux", {}, tmp_path / "home", no_programs, root=tmp_path / "root")
    assert error.value.message == inst.NO_GIMP
    assert "gimp.org" in error.value.message and "run this installer again" in error.value.message


def test_gimp3_never_started_gets_a_new_30_profile(tmp_path: Path) -> None:
    home, root = tmp_path / "home", tmp_path / "root"
    which = {"gimp-3.0": "/usr/bin/gimp-3.0"}.get
    profiles = inst.choose_profiles([], "linux", {}, home, which, root=root)
    assert profiles == [inst.Profile(home / ".config/GIMP/3.0", "native", created=True)]
    (root / "var/lib/flatpak/app/org.gimp.GIMP").mkdir(parents=True)
    make_profiles(home / ".config/GIMP/3.2")
    profiles = inst.choose_profiles([], "linux", {}, home, which, root=root)
    assert [(p.path, p.kind, p.created) for p in profiles] == [
        (home / ".config/GIMP/3.2", "native", False),
        (home / ".var/app/org.gimp.GIMP/config/GIMP/3.0", "flatpak", True),
    ]


def test_a_gimp_binary_counts_only_when_it_is_gimp3(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    old = fake_program(bin_dir / "old", "gimp", "echo 'GNU Image Manipulation Program version 2.10.34'")
    new = fake_program(bin_dir / "new", "gimp", "echo 'GNU Image Manipulation Program version 3.0.4'")
    root = tmp_path / "root"
    assert inst.detect_gimp3("linux", {}, tmp_path, {"gimp": str(old)}.get, root) == []
    assert inst.detect_gimp3("linux", {}, tmp_path, {"gimp": str(new)}.get, root) == ["native"]


def test_gimp3_apps_on_macos_and_windows(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "Applications/GIMP-2.10.app").mkdir(parents=True)
    assert inst.detect_gimp3("darwin", {}, tmp_path, no_programs, root) == []
    (root / "Applications/GIMP.app").mkdir()
    assert inst.detect_gimp3("darwin", {}, tmp_path, no_programs, root) == ["native"]
    program_files = tmp_path / "Program Files"
    (program_files / "GIMP 2").mkdir(parents=True)
    env = {"ProgramFiles": str(program_files), "APPDATA": str(tmp_path / "Roaming")}
    assert inst.detect_gimp3("win32", env, tmp_path, no_programs, root) == []
    (program_files / "GIMP 3").mkdir()
    profiles = inst.choose_profiles([], "win32", env, tmp_path, no_programs, root)
    assert profiles == [inst.Profile(tmp_path / "Roaming/GIMP/3.0", "native", created=True)]


def test_given_profiles_replace_discovery_and_flatpak_is_recognised(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_profiles(home / ".config/GIMP/3.0")
    flatpak = home / ".var/app/org.gimp.GIMP/config/GIMP/3.2"
    make_profiles(tmp_path / "p", flatpak)
    profiles = inst.choose_profiles([str(tmp_path / "p"), str(flatpak)], "linux", {}, home, no_programs)
    assert [(p.path, p.kind) for p in profiles] == [(tmp_path / "p", "native"), (flatpak, "flatpak")]


def test_a_mistyped_gimp_profile_is_refused_and_the_real_ones_are_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_profiles(home / ".config/GIMP/3.0", home / ".var/app/org.gimp.GIMP/config/GIMP/3.2")
    typo = home / ".config/GIMP/3.O"
    with pytest.raises(inst.InstallError) as error:
        inst.choose_profiles([str(typo)], "linux", {}, home, no_programs)
    message = error.value.message
    assert f"There is no GIMP settings folder {typo}" in message and "nothing was installed" in message
    assert str(home / ".config/GIMP/3.0") in message and "GIMP/3.2 (flatpak)" in message, message
    assert not typo.exists()
    with pytest.raises(inst.InstallError) as none:
        inst.choose_profiles([str(typo)], "linux", {}, tmp_path / "nobody", no_programs)
    assert "no GIMP 3 settings folder was found" in none.value.message and "Start GIMP 3 once" in none.value.message


def test_a_mistyped_gimp_profile_from_the_command_line_makes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_profiles(home / ".config/GIMP/3.0")
    typo = home / ".config/GIMP/3.O"
    env = {"HOME": str(home), "PATH": str(Path(sys.executable).parent), "NST_ENGINE_HOME": str(tmp_path / "e")}
    proc = subprocess.run([sys.executable, str(INSTALL), "--gimp-profile", str(typo)], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and str(home / ".config/GIMP/3.0") in proc.stdout, proc.stdout
    assert not typo.exists() and not (tmp_path / "e").exists()


# ---------------------------------------------------------------- which torch


@pytest.mark.parametrize(
    ("smi", "kind", "index"),
    [
        ("570.86.15\n", "cuda", "https://download.pytorch.org/whl/cu128"),
        ("580.65.06\n550.54.14\n", "cuda", "https://download.pytorch.org/whl/cu128"),  # first GPU decides
        ("565.57.01\n", "cuda", "https://download.pytorch.org/whl/cu126"),
        ("535.104.05\n", "cuda", "https://download.pytorch.org/whl/cu118"),
        ("470.256.02\n", "cpu", "https://download.pytorch.org/whl/cpu"),
        (None, "cpu", "https://download.pytorch.org/whl/cpu"),
        ("", "cpu", "https://download.pytorch.org/whl/cpu"),
    ],
)
def test_torch_build_from_the_nvidia_driver(smi: str | None, kind: str, index: str) -> None:
    plan = inst.choose_torch("auto", "linux", "x86_64", smi)
    assert (plan.kind, plan.index_url) == (kind, index)
    assert plan.need_bytes == (6 if kind == "cuda" else 1.5) * inst.GB
    if smi and kind == "cpu":
        assert "too old" in plan.reason and "update the driver" in plan.reason


def test_torch_build_from_a_fake_nvidia_smi_program(tmp_path: Path) -> None:
    smi = fake_program(
        tmp_path, "nvidia-smi",
        'test "$*" = "--query-gpu=driver_version --format=csv,noheader" && echo 560.35.03 || exit 9',
    )  # fmt: skip
    output = inst.nvidia_driver({"nvidia-smi": str(smi)}.get)
    assert inst.choose_torch("auto", "win32", "AMD64", output).index_url == "https://download.pytorch.org/whl/cu126"
    assert inst.nvidia_driver(no_programs) is None


def test_torch_overrides_and_macs() -> None:
    assert inst.choose_torch("cpu", "linux", "x86_64", "570.1").index_url == "https://download.pytorch.org/whl/cpu"
    forced = inst.choose_torch("cuda", "linux", "x86_64", None)
    assert (forced.kind, forced.index_url) == ("cuda", "https://download.pytorch.org/whl/cu128")
    assert inst.choose_torch("auto", "darwin", "arm64", None) == inst.TorchPlan(
        "mps", None, 1.5 * inst.GB, inst.choose_torch("auto", "darwin", "arm64", None).reason)
    assert inst.choose_torch("auto", "darwin", "x86_64", None).index_url is None
    with pytest.raises(inst.InstallError):
        inst.choose_torch("cuda", "darwin", "arm64", None)


def test_torch_pip_arguments() -> None:
    plan = inst.choose_torch("auto", "linux", "x86_64", "570.1")
    assert inst.torch_pip_args(plan, "torch torchvision", True) == [
        "install", "--upgrade", "torch", "torchvision", "--index-url", "https://download.pytorch.org/whl/cu128"]
    assert inst.torch_pip_args(plan, "torch==2.14.1 torchvision==0.29.1", False) == [
        "install", "--upgrade", "torch==2.14.1", "torchvision==0.29.1"]


@pytest.mark.parametrize(
    ("torch", "smi", "package"),
    [
        ("auto", "570.86.15\n", "onnxruntime-gpu"),  # cu128
        ("auto", "565.57.01\n", "onnxruntime-gpu"),  # cu126
        ("auto", "535.104.05\n", "onnxruntime"),  # cu118: PyPI's onnxruntime-gpu is CUDA 12
        ("auto", "470.256.02\n", "onnxruntime"),  # too old for any CUDA torch
        ("auto", None, "onnxruntime"),
        ("cpu", "570.86.15\n", "onnxruntime"),
        ("cuda", None, "onnxruntime-gpu"),  # --torch cuda without a driver: cu128
    ],
)
def test_onnxruntime_follows_the_torch_build(torch: str, smi: str | None, package: str) -> None:
    plan = inst.choose_torch(torch, "linux", "x86_64", smi)
    ort = inst.choose_onnxruntime(plan)
    assert ort.package == package
    assert ort.other == ({"onnxruntime", "onnxruntime-gpu"} - {package}).pop()
    if plan.tag == "cu118":
        assert "CUDA 12" in ort.reason and "CUDA 11" in ort.reason and "CPU" in ort.reason


def test_onnxruntime_from_a_fake_nvidia_smi_program(tmp_path: Path) -> None:
    def choice(driver: str) -> str:
        smi = fake_program(tmp_path, "nvidia-smi", f'echo {driver}')
        output = inst.nvidia_driver({"nvidia-smi": str(smi)}.get)
        return inst.choose_onnxruntime(inst.choose_torch("auto", "linux", "x86_64", output)).package

    assert (choice("575.51.03"), choice("560.35.03"), choice("525.60.13")) == (
        "onnxruntime-gpu", "onnxruntime-gpu", "onnxruntime")
    assert inst.choose_onnxruntime(inst.choose_torch("auto", "darwin", "arm64", None)).package == "onnxruntime"
    assert inst.cuda_major("cu128") == "12" and inst.cuda_major("cu118") == "11" and inst.cuda_major(None) is None
    # --no-torch-index: pip's sources pick torch's CUDA version, which then decides (a GPU still needed).
    gpu = inst.choose_torch("auto", "linux", "x86_64", "575.51.03")
    assert inst.choose_onnxruntime(gpu, "13.0").package == "onnxruntime"
    assert "CUDA 13.0" in inst.choose_onnxruntime(gpu, "13.0").reason
    assert inst.choose_onnxruntime(inst.choose_torch("auto", "linux", "x86_64", "535.1"), "12.6").package == (
        "onnxruntime-gpu")
    assert inst.choose_onnxruntime(inst.choose_torch("auto", "linux", "x86_64", None), "12.8").package == "onnxruntime"


def test_torch_cuda_version_asks_the_installed_torch(tmp_path: Path) -> None:
    import torch

    assert inst.torch_cuda_version(Path(sys.executable)) == torch.version.cuda  # None for a CPU build
    assert inst.torch_cuda_version(fake_program(tmp_path, "python", "exit 1")) is None


def test_onnxruntime_pip_arguments_match_the_learned_extra() -> None:
    import tomllib

    gpu = inst.choose_onnxruntime(inst.choose_torch("auto", "linux", "x86_64", "570.1"))
    assert inst.onnxruntime_pip_args(gpu) == [
        "install", "--upgrade", "onnxruntime-gpu>=1.20", "onnx>=1.17", "onnxscript>=0.5"]
    extra = tomllib.loads((INSTALL.parent.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert sorted(extra["learned"]) == sorted([inst.ONNXRUNTIME_CPU + inst.ONNXRUNTIME_VERSION,
                                               *inst.LEARNING_PACKAGES])  # fmt: skip


@pytest.mark.parametrize("present", [[], ["onnxruntime"]])
def test_switching_onnxruntime_removes_the_other_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       present: list[str]) -> None:
    calls: list[tuple[list[str], tuple[str, ...]]] = []
    monkeypatch.setattr(inst, "installed_distributions", lambda python, names: [n for n in names if n in present])
    monkeypatch.setattr(inst, "run_pip", lambda python, args, what, tmp, extra=(), cache=None:
                        calls.append((list(args), tuple(extra))))  # fmt: skip
    gpu = inst.OnnxRuntimePlan("onnxruntime-gpu", "test")
    inst.install_onnxruntime(Path("python"), gpu, tmp_path, ["--index-url", "http://mirror/simple"])
    install = (inst.onnxruntime_pip_args(gpu), ("--index-url", "http://mirror/simple"))
    if present:  # both go (they share the onnxruntime module's files), without the install-only options
        assert calls == [(["uninstall", "--yes", "onnxruntime", "onnxruntime-gpu"], ()), install]
    else:
        assert calls == [install]


def test_pip_removes_both_runtimes_even_when_one_is_absent(tmp_path: Path) -> None:
    """The real pip, on a venv holding a stand-in onnxruntime: the uninstall succeeds and the module is gone."""
    import venv

    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    python = inst.venv_python(tmp_path / "venv", sys.platform)
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())  # fmt: skip
    (site / "onnxruntime").mkdir()
    (site / "onnxruntime/__init__.py").write_text("")
    info = site / "onnxruntime-1.20.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime\nVersion: 1.20.0\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("onnxruntime/__init__.py,,\n" + "".join(
        f"onnxruntime-1.20.0.dist-info/{n},,\n" for n in ("METADATA", "INSTALLER", "RECORD")))
    gpu = inst.OnnxRuntimePlan("onnxruntime-gpu", "test")
    assert inst.installed_distributions(python, ["onnxruntime", "onnxruntime-gpu"]) == ["onnxruntime"]
    installs: list[list[str]] = []
    real_run_pip = inst.run_pip

    def run_pip(python: Path, args: list[str], *rest: object, **kw: object) -> None:
        if args[0] == "install":  # no network here: the install itself is only recorded
            installs.append(args)
        else:
            real_run_pip(python, args, *rest, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inst, "run_pip", run_pip)
        inst.install_onnxruntime(python, gpu, tmp_path)
    assert not (site / "onnxruntime").exists() and not info.exists()
    assert inst.installed_distributions(python, ["onnxruntime", "onnxruntime-gpu"]) == []
    assert installs == [inst.onnxruntime_pip_args(gpu)]


# ---------------------------------------------------------------- failures say what to do


def test_not_enough_disk_space_says_how_much(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inst.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**10, 10**10 - 10**9, 10**9))
    with pytest.raises(inst.InstallError) as error:
        inst.check_free_space(tmp_path / "not" / "yet", 6 * inst.GB, "the engine")
    assert "6.0 GB" in error.value.message and "1.0 GB is free" in error.value.message
    assert str(tmp_path) in error.value.message and "run this installer again" in error.value.message
    inst.check_free_space(tmp_path, 0.5 * inst.GB, "the engine")


def test_pip_failures_are_explained() -> None:
    log = Path("/x/install.log")
    assert "disk" in inst.pip_failure("installing PyTorch", "OSError: [Errno 28] No space left on device").message
    net = inst.pip_failure("installing PyTorch", "NewConnectionError: Failed to establish a new connection",
                           log).message
    assert "internet connection" in net and "run this installer again" in net and str(log) in net
    assert "--no-torch-index" in net and "\n" not in net
    assert "--no-torch-index" not in inst.pip_failure("installing the engine", "ProxyError").message
    none = inst.pip_failure("installing PyTorch", "ERROR: No matching distribution found for torch", log).message
    assert "Python 3.12" in none and str(log) in none
    other = inst.pip_failure("installing the engine", "something else", log).message
    assert "report" in other and str(log) in other


def fake_pip(folder: Path, lines: list[str], code: int = 0, pause: float = 0.0) -> Path:
    """A 'python' whose `-m pip ...` prints `lines` (as pip would, on stdout and stderr) and exits with `code`."""
    script = folder / "pip_lines.txt"
    script.write_text("\n".join(lines) + "\n")
    body = f"sleep {pause}\n" if pause else ""
    body += f'cat "{script}"\necho "last words on stderr" >&2\nexit {code}'
    return fake_program(folder, "python", body)


def test_pip_output_goes_to_the_log_and_the_screen_shows_downloads_and_a_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [f"Requirement already satisfied: pkg{n} in /venv/lib/site-packages (1.{n})" for n in range(50)]
    lines += ["Collecting torch", "  Downloading torch-2.14.1-cp312-cp312-manylinux_2_28_x86_64.whl (899.7 MB)",
              "  Using cached numpy-2.3.0-cp312-cp312-manylinux_2_28_x86_64.whl (16.6 MB)",
              "Installing collected packages: torch, nst-engine",
              "Successfully installed nst-engine-0.1.0 torch-2.14.1"]
    monkeypatch.setattr(inst, "LOG", tmp_path / "logs" / "install.log")
    inst.run_pip(fake_pip(tmp_path, lines), ["install", "torch"], "installing PyTorch", tmp_path)
    screen = capsys.readouterr().out
    assert "Requirement already satisfied" not in screen and "Collecting" not in screen
    assert "downloading torch-2.14.1-cp312-cp312-manylinux_2_28_x86_64.whl (899.7 MB)" in screen
    assert "already downloaded earlier: numpy-2.3.0" in screen
    assert "installed nst-engine 0.1.0, torch 2.14.1; 50 packages already in place" in screen
    log = (tmp_path / "logs" / "install.log").read_text()
    assert log.count("Requirement already satisfied") == 50 and "last words on stderr" in log


def test_an_unreachable_package_index_is_one_paragraph_naming_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    retry = ("WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after "
             "connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object>: "
             "Failed to establish a new connection: [Errno 111] Connection refused')': /simple/torch/")
    lines = [retry] * 30 + ["ERROR: Could not find a version that satisfies the requirement torch (from versions: "
                            "none)", "ERROR: No matching distribution found for torch"]
    log = tmp_path / "install.log"
    monkeypatch.setattr(inst, "LOG", log)
    with pytest.raises(inst.InstallError) as error:
        inst.run_pip(fake_pip(tmp_path, lines, code=1), ["install", "torch"], "installing PyTorch", tmp_path)
    assert "Retrying" not in capsys.readouterr().out
    message = error.value.message
    assert message.startswith("Could not download the packages while installing PyTorch") and "\n" not in message
    assert str(log) in message and "internet connection" in message and "Errno" not in message
    assert log.read_text().count("Retrying") == 30


def test_a_long_silence_shows_that_pip_still_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pip_log

    python = fake_pip(tmp_path, ["Successfully installed torch-2.14.1"], pause=1.5)
    run = pip_log.run_logged([str(python)], tmp_path / "log", print, heartbeat_s=0.5)
    assert run.code == 0 and run.installed == ["torch-2.14.1"]
    assert "still working" in capsys.readouterr().out


def test_a_failed_weights_download_is_plain(tmp_path: Path) -> None:
    engine = fake_program(tmp_path, "python", "echo 'nst-engine: error: Could not download the VGG-19 weights from "
                          "http://127.0.0.1:9/w.pth ([Errno 111] Connection refused). Check the internet connection.'"
                          " >&2; exit 1")
    with pytest.raises(inst.InstallError) as error:
        inst.install_weights(engine, tmp_path / "weights", inst.build_parser().parse_args(["--weights-url", "http://x"]))
    message = error.value.message
    assert "(Connection refused)" in message and "Errno" not in message and "--weights FILE" in message, message


def test_weights_given_again_are_not_copied_again(tmp_path: Path, synthetic_weights_file: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--weights names the format the engine detects; a re-run with the same file finds it by SHA-256."""
    weights_dir = tmp_path / "weights"
    mine = tmp_path / "my-vgg19.pth"
    shutil.copyfile(synthetic_weights_file, mine)
    args = inst.build_parser().parse_args(["--weights", str(mine)])
    target = inst.install_weights(Path(sys.executable), weights_dir, args)
    assert target == weights_dir / "vgg19-dcbb9e9d.pth" and target.read_bytes() == mine.read_bytes()
    first = capsys.readouterr().out
    assert f"my-vgg19.pth: {inst.FORMAT_WORDS['torchvision']} (as the engine reads it), installed as {target}" in first
    before = target.stat()
    assert inst.install_weights(Path(sys.executable), weights_dir, args) == target
    again = capsys.readouterr().out
    assert "Copying" not in again and "already in place" in again and "not copied again" in again, again
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_extra_pip_args_from_option_or_environment() -> None:
    env = {"NST_INSTALL_PIP_ARGS": "--proxy http://proxy:3128 --trusted-host mirror"}
    assert inst.extra_pip_args(None, env) == ["--proxy", "http://proxy:3128", "--trusted-host", "mirror"]
    assert inst.extra_pip_args("--index-url 'http://a b/simple'", env) == ["--index-url", "http://a b/simple"]
    assert inst.extra_pip_args(None, {}) == []
    assert inst.build_parser().parse_args(["--pip-args", "--find-links /wheels"]).pip_args == "--find-links /wheels"


def test_repair_keeps_weights_given_earlier(tmp_path: Path, synthetic_weights_file: Path) -> None:
    """A re-run without --weights keeps a file copied in from --weights: fetch-weights would replace a
    torchvision-format file that is not the official download (here: synthetic weights) by downloading."""
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    kept = weights_dir / "vgg19-dcbb9e9d.pth"
    shutil.copyfile(synthetic_weights_file, kept)
    args = inst.build_parser().parse_args([])
    assert inst.install_weights(Path(sys.executable), weights_dir, args, [str(kept)]) == kept
    assert kept.read_bytes() == synthetic_weights_file.read_bytes()


def test_old_python_can_read_the_installer_and_hands_over(monkeypatch: pytest.MonkeyPatch,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    """Python 3.7-3.9 must get as far as main() to find a newer Python (or say what to install)."""
    import ast

    ast.parse(INSTALL.read_text(encoding="utf-8"), feature_version=(3, 7))
    monkeypatch.setattr(inst, "MIN_PYTHON", (99, 0))  # pretend this Python is too old
    monkeypatch.setattr(inst, "find_other_python", lambda: None)
    assert inst.main([]) == 1
    assert "Python 3.10 or newer was not found" in capfd.readouterr().out
    monkeypatch.setattr(inst, "find_other_python", lambda: [sys.executable])
    assert inst.main(["--help"]) == 0  # the newer Python ran the installer with the same options
    assert "--uninstall" in capfd.readouterr().out


def test_png_writer_makes_real_pngs(tmp_path: Path) -> None:
    from PIL import Image

    inst.write_png(tmp_path / "a.png", 5, 3, lambda x, y: (x * 50, y * 100, 7))
    with Image.open(tmp_path / "a.png") as image:
        assert image.size == (5, 3) and image.mode == "RGB"
        assert image.getpixel((4, 2)) == (200, 200, 7)


def test_flatpak_profile_gets_spawn_prefix_and_permission(tmp_path: Path) -> None:
    calls = tmp_path / "flatpak-calls"
    flatpak = fake_program(tmp_path / "bin", "flatpak", f'echo "$*" >> "{calls}"')
    profile = inst.Profile(tmp_path / "home/.var/app/org.gimp.GIMP/config/GIMP/3.0", "flatpak")
    which = {"flatpak": str(flatpak)}.get
    folder = inst.install_plugin(profile, Path("/venv/bin/python"), tmp_path / "cache", None, which)
    config = json.loads((folder / "engine.json").read_text())
    assert config["spawn_prefix"] == ["flatpak-spawn", "--host"]
    assert calls.read_text().split() == ["override", "--user", "--talk-name=org.freedesktop.Flatpak", "org.gimp.GIMP"]
    assert sorted(p.name for p in folder.glob("*.py")) == PLUGIN_FILES
    assert "nst_contract.py" in PLUGIN_FILES  # the contract travels with the folder, no separate copy step
    assert os.access(folder / "neural_style_transfer.py", os.X_OK)


def test_engine_json_contract_and_kept_remote_engine(tmp_path: Path) -> None:
    profile = inst.Profile(tmp_path / "GIMP/3.0")
    python = tmp_path / "venv/bin/python"
    folder = inst.install_plugin(profile, python, tmp_path / "cache", None, no_programs)
    config = json.loads((folder / "engine.json").read_text())
    assert config == {
        "python": str(python),
        "command": [str(python), "-m", "nst_engine", "serve", "--port", "0", "--idle-timeout", "1800"],
        "state_file": str(tmp_path / "cache/server.json"), "url": None, "token": None, "spawn_prefix": [],
    }
    (folder / "engine.json").write_text(json.dumps({**config, "url": "http://gpu-box:8765", "token": "s3cret"}))
    inst.install_plugin(profile, python, tmp_path / "cache", None, no_programs)
    config = json.loads((folder / "engine.json").read_text())
    assert (config["url"], config["token"]) == ("http://gpu-box:8765", "s3cret")


def test_no_gimp_from_the_command_line(tmp_path: Path) -> None:
    """End to end through main(): nothing installed, a non-zero status and the sentence."""
    env = {"HOME": str(tmp_path / "home"), "PATH": str(Path(sys.executable).parent), "NST_ENGINE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(INSTALL)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert inst.NO_GIMP in proc.stdout
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------- a real install (slow)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def weights_server(tmp_path_factory: pytest.TempPathFactory, synthetic_weights_file: Path) -> Iterator[dict]:
    """The synthetic weights over HTTP on 127.0.0.1, under their official name."""
    folder = tmp_path_factory.mktemp("served")
    shutil.copyfile(synthetic_weights_file, folder / "vgg19-dcbb9e9d.pth")
    digest = hashlib.sha256((folder / "vgg19-dcbb9e9d.pth").read_bytes()).hexdigest()
    with loopback_server(partial(QuietHandler, directory=str(folder))) as url:
        yield {"url": f"{url}/vgg19-dcbb9e9d.pth", "sha256": digest}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A home, an engine home, a temp folder and two GIMP profiles as GIMP leaves them (plug-ins/, gimprc)."""
    root = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NST_", "XDG_", "PYTHON", "GIMP", "PIP_CACHE")) and k != "VIRTUAL_ENV"}  # fmt: skip
    env.update({"HOME": str(root / "home"), "NST_ENGINE_HOME": str(root / "engine"), "OMP_NUM_THREADS": "2",
                "TMPDIR": str(root / "tmp")})  # fmt: skip
    # This machine's rustup shims write ~/.rustup when anything probes for cargo: not the installer's doing.
    env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep) if ".cargo" not in d)
    profiles = [root / "gimp/GIMP/3.0", root / "gimp/GIMP/3.2"]
    for profile in profiles:
        (profile / "plug-ins").mkdir(parents=True)
        (profile / "gimprc").write_text("# GIMP's own settings\n")
    for name in ("home", "engine", "tmp"):
        (root / name).mkdir()
    return {"root": root, "env": env, "home": root / "engine", "profiles": profiles}


@pytest.fixture(scope="module")
def run_installer(sandbox: dict, weights_server: dict) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*extra: str, sha256: str | None = None, weights: bool = True) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(INSTALL), "--reuse-packages-from", sys.executable]
        for profile in sandbox["profiles"]:
            command += ["--gimp-profile", str(profile)]
        if weights:
            command += ["--weights-url", weights_server["url"], "--weights-sha256", sha256 or weights_server["sha256"]]
        proc = subprocess.run([*command, *extra], capture_output=True, text=True, env=sandbox["env"], timeout=600)
        print(proc.stdout[-5000:], proc.stderr[-3000:])
        return proc

    return run


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under `root`: what "uninstall leaves nothing behind" compares."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a real venv and pip install, minutes on 2 busy cores
def test_real_install_repair_and_uninstall(sandbox: dict, run_installer: Callable, weights_server: dict) -> None:
    home: Path = sandbox["home"]
    weights = home / "cache/weights/vgg19-dcbb9e9d.pth"
    plugin_dirs = [p / "plug-ins/neural_style_transfer" for p in sandbox["profiles"]]
    before = _tree(sandbox["root"])

    # 1. A download with the wrong checksum is refused, and nothing of it is kept.
    bad = run_installer(sha256="0" * 64)
    assert bad.returncode != 0
    assert "failed their checksum check" in bad.stdout and "SHA-256" in bad.stdout
    assert "Installation stopped" in bad.stdout and "run this installer again" in bad.stdout
    assert not any(p.name.startswith("vgg19") for p in (home / "cache/weights").glob("*"))
    assert not any(d.exists() for d in plugin_dirs)

    # 1b. No network for the download: the last line says what to do, including --weights FILE.
    offline = run_installer("--weights-url", "http://127.0.0.1:9/vgg19-dcbb9e9d.pth", weights=False)
    assert offline.returncode != 0
    last = offline.stdout.strip().splitlines()[-1]
    assert last.startswith("Installation stopped: The VGG-19 weights could not be downloaded"), last
    assert "internet connection" in last and "--weights FILE" in last
    assert not any(d.exists() for d in plugin_dirs)

    # 2. The real install: same venv (made in 1.), weights over HTTP, plug-in in both profiles, self test.
    good = run_installer()
    assert good.returncode == 0
    for n in range(1, 6):
        assert f"Step {n} of 5:" in good.stdout
    assert "Reusing the engine's Python environment" in good.stdout
    assert "Self test passed." in good.stdout
    assert good.stdout.rstrip().splitlines()[-2] == inst.READY
    assert weights.is_file()
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == weights_server["sha256"]
    python = home / "data/venv/bin/python"
    for folder in plugin_dirs:
        assert sorted(p.name for p in folder.glob("*.py")) == PLUGIN_FILES
        assert (folder / "neural_style_transfer.py").stat().st_mode & 0o777 == 0o755
        config = json.loads((folder / "engine.json").read_text())
        assert config["python"] == str(python)
        assert config["command"][:8] == [str(python), "-m", "nst_engine", "serve", "--port", "0", "--idle-timeout",
                                         "1800"]  # fmt: skip
        assert config["state_file"] == str(home / "cache/server.json")
        assert (config["url"], config["token"], config["spawn_prefix"]) == (None, None, [])
    manifest = json.loads((home / "data/install-manifest.json").read_text())
    assert manifest["plugin_dirs"] == [str(d) for d in plugin_dirs]
    assert manifest["weights"] == [str(weights)] and manifest["venv"] == str(home / "data/venv")
    # The engine's own copy is installed (not this checkout's), and torch comes through the .pth file.
    probe = subprocess.run([str(python), "-c", "import nst_engine, torch; print(nst_engine.__file__)"],
                           capture_output=True, text=True, env=sandbox["env"], cwd=sandbox["root"])  # fmt: skip
    assert probe.returncode == 0 and probe.stdout.startswith(str(home / "data/venv")), probe.stderr
    # ONNX Runtime comes the same way (--reuse-packages-from), and the installed engine says which it uses.
    assert "PyTorch and ONNX Runtime: reused from" in good.stdout
    facts = subprocess.run([str(python), "-m", "nst_engine", "info", "--json", "--device", "cpu"], capture_output=True,
                           text=True, env=sandbox["env"], cwd=sandbox["root"])  # fmt: skip
    assert facts.returncode == 0, facts.stderr
    assert {k: v for k, v in json.loads(facts.stdout).items() if k.startswith("onnxruntime_")} == {
        "onnxruntime_package": "onnxruntime", "onnxruntime_provider": "CPU"}

    # 3. The plug-in's own client starts the engine from the installed engine.json, as GIMP would.
    _engine_starts_from_engine_json(plugin_dirs[0], sandbox["env"], home)

    # 4. Repair: a lost plug-in file comes back; a configured remote engine survives.
    (plugin_dirs[1] / "nst_logic.py").unlink()
    config = json.loads((plugin_dirs[1] / "engine.json").read_text())
    (plugin_dirs[1] / "engine.json").write_text(json.dumps({**config, "url": "http://gpu-box:8765", "token": "tk"}))
    junk = sandbox["root"] / "junk.pth"
    junk.write_bytes(b"not a network")
    refused = run_installer("--skip-self-test", "--weights", str(junk), weights=False)
    assert refused.returncode != 0 and f"The engine cannot use {junk}" in refused.stdout
    mine = sandbox["root"] / "my-vgg19.pth"  # weights a person already has, under another name
    shutil.copyfile(weights, mine)
    again = run_installer("--skip-self-test", "--weights", str(mine), weights=False)
    assert again.returncode == 0
    assert "Reusing the engine's Python environment" in again.stdout
    assert (plugin_dirs[1] / "nst_logic.py").is_file()
    # the same bytes as the installed file: found by SHA-256, named by the engine's detection, not copied
    assert "Copying" not in again.stdout and "not copied again" in again.stdout, again.stdout[-2000:]
    assert f"my-vgg19.pth: {inst.FORMAT_WORDS['torchvision']}" in again.stdout
    assert "Requirement already satisfied" not in again.stdout, "pip's lines go to the log"
    assert (home / "data" / inst.LOG_NAME).is_file()
    config = json.loads((plugin_dirs[1] / "engine.json").read_text())
    assert (config["url"], config["token"]) == ("http://gpu-box:8765", "tk")
    assert json.loads((home / "data/install-manifest.json").read_text())["plugin_dirs"] == [str(d) for d in plugin_dirs]
    # A plain re-run keeps the file given with --weights: its SHA-256 is not the official one, and
    # fetch-weights would have deleted it and gone to download.pytorch.org.
    plain = run_installer("--skip-self-test", weights=False)
    assert plain.returncode == 0, plain.stdout[-2000:]
    assert f"Using the torchvision weights already there: {weights}" in plain.stdout
    assert weights.read_bytes() == mine.read_bytes()
    assert not (home / "cache/pip-cache").exists()  # pip's downloads are not left behind

    # 5. Uninstall: only the weights remain; the GIMP profiles themselves stay.
    gone = run_installer("--uninstall", weights=False)
    assert gone.returncode == 0
    assert "--remove-weights" in gone.stdout
    left = _files(home)  # the .sha256 sidecar is there once the engine has checked the copied file
    assert "cache/weights/vgg19-dcbb9e9d.pth" in left
    assert set(left) <= {"cache/weights/vgg19-dcbb9e9d.pth", "cache/weights/vgg19-dcbb9e9d.pth.sha256"}
    assert not any(d.exists() for d in plugin_dirs)
    assert all(p.is_dir() for p in sandbox["profiles"])

    # 6. ...and with --remove-weights, every tree is back to what it was before the first run.
    assert run_installer("--uninstall", "--remove-weights", weights=False).returncode == 0
    assert _files(home) == []
    junk.unlink()
    mine.unlink()
    after = _tree(sandbox["root"])
    assert not [name for name in after if name.startswith("tmp/nst-")]  # the installer's temporary folders
    # (torch itself may leave an empty torchinductor_<user> folder in the system's temp folder; importing
    # onnxruntime writes files under ~/.cache/Microsoft and $TMPDIR/.ses, so installing never imports it)
    ignored = ("tmp/torchinductor_",)
    assert {k: v for k, v in after.items() if not k.startswith(ignored) and k != "home/.cache"} == before


def _engine_starts_from_engine_json(plugin_dir: Path, env: dict[str, str], home: Path) -> None:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from engine_connection import load_config; from engine_client import EngineClient;"
        "client = EngineClient.connect(load_config(), timeout=120); print(json.dumps(client.health()))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(plugin_dir)], capture_output=True, text=True, env=env,
                          timeout=180)  # fmt: skip
    state_file = home / "cache/server.json"
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert json.loads(proc.stdout.splitlines()[-1])
    finally:
        _stop_engine(state_file)


def _stop_engine(state_file: Path) -> None:
    """End the engine the client started (it announced its pid) and wait until it has gone."""
    import signal
    import time

    try:
        pid = int(json.loads(state_file.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- the real GIMP 3 finds it

REGISTERED_DRIVER = """
import json
from gi.repository import Gimp
params = json.load(open(NST_PARAMS))
proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style-transfer")
found = {"found": proc is not None, "menu_paths": list(proc.get_menu_paths()) if proc else []}
open(params["out"], "w").write(json.dumps(found))
"""


@pytest.mark.gimp
def test_real_gimp3_registers_the_installed_plugin(tmp_path: Path) -> None:
    """The folder install_plugin() writes, in a GIMP3_DIRECTORY profile, is registered by GIMP 3.0.4."""
    sys.path.insert(0, str(REPO / "tests" / "gimp"))
    import gimp_harness as H

    try:
        gimp = H.provision()
    except H.NotProvisionable as exc:
        pytest.skip(str(exc))
    work = gimp.workdir("nst-install-")
    try:
        profile = work / "profile"
        folder = inst.install_plugin(inst.Profile(profile), tmp_path / "venv/bin/python", tmp_path / "cache", None,
                                     no_programs)  # fmt: skip
        assert folder == profile / "plug-ins" / "neural_style_transfer"
        (work / "driver.py").write_text(REGISTERED_DRIVER)
        (work / "params.json").write_text(json.dumps({"out": gimp.inside(work / "out.json")}))
        proc = H.run_batch(gimp, profile, work / "driver.py", work / "params.json", work / "gimp.log", timeout=300)
        assert (work / "out.json").is_file(), proc.stderr[-3000:]
        result = json.loads((work / "out.json").read_text())
        assert result == {"found": True, "menu_paths": ["<Image>/Filters/Artistic/Neural Style Transfer"]}, \
            proc.stderr[-3000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)
