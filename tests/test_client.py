"""The plug-in's standard-library client against real engine processes (never a mock of the engine)."""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))
from engine_client import (  # noqa: E402
    EngineClient,
    EngineJobFailed,
    EngineNotInstalled,
    EngineUnavailable,
    JobCancelled,
    RawImage,
    engine_command,
)
from engine_connection import EngineConfig, load_config  # noqa: E402

FAST = {"size": 40, "iterations": 2, "scales": 1}


def gradient(width: int = 40, height: int = 30) -> RawImage:
    """16-bit RGBA, as the plug-in reads a 16-bit layer."""
    pixels = b"".join(
        struct.pack("<4H", x * 1600, y * 2100, 30000, 65535 if x > 3 else 0)
        for y in range(height) for x in range(width)
    )
    return RawImage(width, height, 4, "u16", pixels)


def test_finds_a_running_engine_through_its_state_file(start_engine, photos):
    engine = start_engine()
    client = EngineClient.connect(EngineConfig(state_file=engine.state_file), start_if_needed=False)
    assert client.url == engine.url and client.health()["status"] == "ok"
    progress = []
    result = client.submit(gradient(), [photos["ihc"].read_bytes()], FAST, preview=True).wait(progress.append)
    assert (result.width, result.height, result.channels, result.sample_format) == (40, 30, 4, "f32")
    assert len(result.data) == 40 * 30 * 16
    alpha = struct.unpack_from("<f", result.data, 12)[0]  # pixel (0, 0): transparent in the content
    assert alpha == 0.0
    assert [e["iteration"] for e in progress if e["type"] == "progress"] == [1, 2]
    # the engine's done is followed by the client's "receiving" while the result is fetched (the window names it)
    assert progress[-1] == {"type": "receiving", "stopped_early": False}


def test_a_configured_url_and_token_reach_an_engine_as_a_remote_one_would(start_engine, photos, monkeypatch):
    engine = start_engine()
    monkeypatch.setenv("NST_ENGINE_URL", engine.url)
    monkeypatch.setenv("NST_ENGINE_TOKEN", engine.token)
    config = load_config(Path("/nonexistent/engine.json"))
    client = EngineClient.connect(config, start_if_needed=False)
    assert client.submit(photos["coffee"].read_bytes(), [photos["ihc"].read_bytes()], FAST).wait().width == 40
    with pytest.raises(EngineUnavailable, match="token"):
        EngineClient(engine.url, "wrong").submit(gradient(), [photos["ihc"].read_bytes()], FAST)


def test_engine_errors_and_cancel_reach_the_caller(start_engine, photos):
    engine = start_engine()
    client = EngineClient(engine.url, engine.token)
    with pytest.raises(EngineJobFailed, match="not an image"):
        client.submit(gradient(), [b"not an image"], FAST)
    job = client.submit(gradient(), [photos["ihc"].read_bytes()], {**FAST, "iterations": 500})

    def cancel_on_first_progress(event):
        if event["type"] == "progress":
            job.cancel()

    with pytest.raises(JobCancelled):
        job.wait(cancel_on_first_progress)



def test_out_of_memory_reaches_the_caller_with_a_size_that_fits(start_engine, photos):
    engine = start_engine("--memory-limit-mb", "400")  # forced, whatever memory the host has
    client = EngineClient(engine.url, engine.token)
    settings = {"size": 2048, "on_oom": "refuse", "scales": 1}  # the photo at 2048x1362 needs GiBs
    with pytest.raises(EngineJobFailed) as failed:
        client.submit(photos["chelsea"].read_bytes(), [photos["ihc"].read_bytes()], settings).wait()
    assert failed.value.kind == "out_of_memory" and 0 < failed.value.suggested_size < 2048


def test_engine_dying_mid_job_gives_a_clear_error(start_engine, photos):
    engine = start_engine()
    client = EngineClient(engine.url, engine.token)
    job = client.submit(gradient(), [photos["ihc"].read_bytes()], {**FAST, "iterations": 500})

    def kill_on_first_progress(event):
        if event["type"] == "progress":
            os.kill(engine.process.pid, signal.SIGKILL)

    with pytest.raises(EngineUnavailable, match="stopped before the job ended") as died:
        job.wait(kill_on_first_progress)
    assert died.value.advice == "Run the filter again."  # the plug-in adds that the image was not changed


def test_not_installed_names_the_installer(tmp_path):
    with pytest.raises(EngineNotInstalled, match="install.sh"):
        EngineClient.connect(EngineConfig(state_file=tmp_path / "none.json"))
    missing = EngineConfig(python=str(tmp_path / "venv/bin/python"), command=[str(tmp_path / "venv/bin/python")],
                           state_file=tmp_path / "none.json")
    with pytest.raises(EngineNotInstalled, match="missing"):
        EngineClient.connect(missing)


def test_spawns_the_managed_engine_detached_and_reuses_it(tmp_path, synthetic_weights_file, photos, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("NST_ENGINE_HOME", str(home))
    monkeypatch.setenv("PYTHONPATH", "/gimp/bundle/lib/python3.10")  # what GIMP's macOS bundle sets
    state_file = home / "cache" / "server.json"
    engine_json = tmp_path / "engine.json"
    engine_json.write_text(json.dumps({
        "python": sys.executable,
        "command": [sys.executable, "-m", "nst_engine", "serve", "--port", "0", "--idle-timeout", "120",
                    "--weights", str(synthetic_weights_file)],
        "state_file": str(state_file), "url": None, "token": None, "spawn_prefix": [],
    }))
    config = load_config(engine_json)
    assert engine_command(config)[-2:] == ["--state-file", str(state_file)]
    client = EngineClient.connect(config, timeout=120)
    pid = json.loads(state_file.read_text())["pid"]
    try:
        assert os.getsid(pid) != os.getsid(0)  # its own session: GIMP killing the plug-in leaves it running
        assert Path(f"/proc/{pid}/cwd").resolve() == state_file.parent.resolve()  # not GIMP's folder
        assert os.readlink(f"/proc/{pid}/fd/1") == os.devnull
        assert client.submit(gradient(), [photos["ihc"].read_bytes()], FAST).wait().height == 30
        again = EngineClient.connect(config, start_if_needed=False)
        assert again.url == client.url
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while state_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not state_file.exists()


def test_an_engine_that_fails_to_start_shows_its_log(tmp_path):
    config = EngineConfig(
        python=sys.executable,
        command=[sys.executable, "-c", "import sys; print('no torch here', file=sys.stderr); sys.exit(3)"],
        state_file=tmp_path / "cache" / "server.json",
    )
    with pytest.raises(EngineUnavailable, match="no torch here") as failed:
        EngineClient.connect(config, timeout=60)
    assert "exit status 3" in failed.value.message
