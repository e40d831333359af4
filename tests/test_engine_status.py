"""The settings procedure's logic without GIMP (issue 11 point 5): the engine's state in words, the
connection written to engine.json without losing the installer's values, and the local engine stopped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import engine_readiness as R  # noqa: E402
import engine_status as S  # noqa: E402
import plugin_messages as M  # noqa: E402
from conftest import JsonHandler, loopback_server  # noqa: E402
from engine_connection import EngineConfig, EngineConfigError, load_config, save_connection  # noqa: E402
from test_plugin_messages import closed_port_url, write_engine_json  # noqa: E402

TOKEN = "s3cret-token"


class _Health(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        answer = {"status": "ok", "version": "9.9"}
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            answer.update(device="cuda", weights={"present": True, "path": "/w/vgg19.pth"})
        self.send_json(200, answer)


@pytest.fixture()
def health_server() -> Iterator[str]:
    with loopback_server(_Health) as url:
        yield url


def test_remote_engine_that_answers_shows_version_device_and_weights(tmp_path, no_engine_env, health_server):
    config = load_config(write_engine_json(tmp_path / "engine.json", url=health_server, token=TOKEN))
    status = S.probe(config)
    assert status.mode == "remote" and status.running and status.problem is None
    assert (status.version, status.device, status.weights_present) == ("9.9", "cuda", True)
    rows = dict(status.rows())
    assert rows["Engine"] == f"at {health_server}" and rows["State"] == "running, answers"
    assert rows["VGG-19 weights"] == "present" and rows["Settings file"] == str(tmp_path / "engine.json")


def test_remote_engine_with_a_wrong_token_says_so(tmp_path, no_engine_env, health_server):
    config = load_config(write_engine_json(tmp_path / "engine.json", url=health_server, token="old"))
    problem = S.problem_for_run(S.probe(config))
    assert problem and "token" in problem and str(tmp_path / "engine.json") in problem


def test_remote_engine_down_names_the_url_where_to_change_it_and_no_errno(tmp_path, no_engine_env):
    url = closed_port_url()
    python = sys.executable
    config = load_config(write_engine_json(tmp_path / "engine.json", url=url, token="t", python=python,
                                           command=[python, "-m", "nst_engine", "serve"]))
    problem = S.problem_for_run(S.probe(config))
    assert problem and url in problem and str(tmp_path / "engine.json") in problem
    assert M.SETTINGS_MENU in problem and "installed on this computer" in problem
    assert "Errno" not in problem and "[" not in problem


def test_local_engine_not_installed_points_at_the_installer(tmp_path, no_engine_env):
    config = load_config(write_engine_json(tmp_path / "engine.json", state_file=str(tmp_path / "none.json")))
    status = S.probe(config)
    assert status.mode == "local" and not status.running
    assert "install" in (S.problem_for_run(status) or "")


def test_info_command_keeps_the_engines_weights_and_device():
    config = EngineConfig(
        command=["/v/bin/python", "-m", "nst_engine", "serve", "--device", "cpu", "--weights", "/w.pth", "--port", "0"],
        spawn_prefix=["flatpak-spawn", "--host"])
    assert S.info_command(config) == ["flatpak-spawn", "--host", "/v/bin/python", "-m", "nst_engine", "info",
                                      "--json", "--weights", "/w.pth", "--device", "cpu"]


def test_save_connection_switches_url_and_token_and_keeps_the_installers_values(tmp_path, no_engine_env):
    path = write_engine_json(tmp_path / "engine.json", python="/v/python", command=["/v/python", "-m", "x"])
    save_connection("http://10.0.0.2:8765 ", " tok ", path)
    values = json.loads(path.read_text())
    assert values["url"] == "http://10.0.0.2:8765" and values["token"] == "tok"
    assert values["python"] == "/v/python" and values["command"] == ["/v/python", "-m", "x"]
    save_connection(None, "ignored", path)
    config = load_config(path)
    assert config.url is None and config.token is None and config.local_installed


def test_a_pinned_certificate_goes_with_its_address(tmp_path, no_engine_env):
    """The fingerprint pins one engine's certificate: kept while the address stays, dropped when it changes."""
    path = write_engine_json(tmp_path / "engine.json", url="https://a:8765", token="t", tls_fingerprint="ab" * 32)
    save_connection("https://a:8765", "new token", path)
    assert load_config(path).tls_fingerprint == "ab" * 32
    save_connection("https://b:8765", "t", path)
    assert load_config(path).tls_fingerprint is None and "tls_fingerprint" not in json.loads(path.read_text())


def test_save_connection_refuses_to_overwrite_a_broken_file(tmp_path, no_engine_env):
    path = tmp_path / "engine.json"
    path.write_text('{"url": "http://x\n}')
    with pytest.raises(EngineConfigError):
        save_connection("http://y:1", "t", path)
    assert path.read_text() == '{"url": "http://x\n}'


FAKE_ENGINE = """
import json, sys, http.server
TOKEN = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "version": "1"}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
state = sys.argv[1]
with open(state + ".token", "w") as token_file:
    token_file.write(TOKEN)
import os
# As the engine writes it (service/instance.py _write_state): whole, or not there at all.
with open(state + ".tmp", "w") as handle:
    json.dump({"url": f"http://127.0.0.1:{server.server_address[1]}", "token_file": state + ".token",
               "pid": os.getpid()}, handle)
os.replace(state + ".tmp", state)
server.serve_forever()
"""


def test_stop_local_ends_the_engine_announced_in_the_state_file(tmp_path, no_engine_env):
    state = tmp_path / "server.json"
    process = subprocess.Popen([sys.executable, "-c", FAKE_ENGINE, str(state), TOKEN])
    try:
        deadline = time.monotonic() + 30
        while not state.exists() and time.monotonic() < deadline:  # written atomically: whole once there
            time.sleep(0.1)
        config = load_config(write_engine_json(tmp_path / "engine.json", state_file=str(state),
                                               python=sys.executable, command=[sys.executable, "-m", "x", "serve"]))
        status = S.probe(config, with_info=False)
        assert status.running and status.mode == "local"
        assert S.stop_local(config)
        assert process.wait(10) is not None
        assert not S.probe(config, with_info=False).running
        assert not S.stop_local(config)  # nothing left to stop
    finally:
        if process.poll() is None:
            process.kill()


# ---------------------------------------------------------------- readiness (issue 23 point 3)


def _local(tmp_path: Path, command: list[str]) -> EngineConfig:
    return load_config(write_engine_json(tmp_path / "engine.json", state_file=str(tmp_path / "none.json"),
                                         python=command[0], command=command))


def _python_without_site(tmp_path: Path) -> str:
    """A Python that runs but cannot import the engine (no site-packages): an engine package gone."""
    wrapper = tmp_path / "python-no-site"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_a_missing_engine_python_is_not_ready_and_names_it_and_the_installer(tmp_path, no_engine_env):
    python = str(tmp_path / "venv" / "bin" / "python")
    status = S.probe(_local(tmp_path, [python, "-m", "nst_engine", "serve"]))
    problem = S.problem_for_run(status) or ""
    assert python in problem and "missing" in problem and "install/install.sh" in problem, problem
    assert dict(status.rows())["State"] == "cannot start (see below)"


def test_an_engine_python_without_the_package_is_not_ready(tmp_path, no_engine_env):
    python = _python_without_site(tmp_path)
    readiness = R.local_readiness(_local(tmp_path, [python, "-m", "nst_engine", "serve"]))
    assert not readiness.ready and "package is not installed" in readiness.what and python in readiness.what
    assert "install/install.sh" in readiness.advice


def test_missing_weights_are_named_with_their_path(tmp_path, no_engine_env):
    weights = tmp_path / "vgg19-dcbb9e9d.pth"
    config = _local(tmp_path, [sys.executable, "-m", "nst_engine", "serve", "--weights", str(weights)])
    readiness = R.local_readiness(config)
    assert not readiness.ready and "weights are missing" in readiness.what and str(weights) in readiness.what
    weights.write_bytes(b"present")  # presence is what the check asks; the engine checks the contents itself
    assert R.local_readiness(config).ready
    assert S.problem_for_run(S.probe(config, with_info=False)) is None


def test_a_python_that_does_not_run_is_not_ready(tmp_path, no_engine_env):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    broken.chmod(0o755)
    readiness = R.local_readiness(_local(tmp_path, [str(broken), "-m", "nst_engine", "serve"]))
    assert not readiness.ready and "Segmentation fault" in readiness.what and str(broken) in readiness.what


def test_start_local_refuses_an_engine_that_cannot_start_before_trying(tmp_path, no_engine_env):
    python = str(tmp_path / "gone" / "python")
    with pytest.raises(M.PluginError) as caught:
        S.start_local(_local(tmp_path, [python, "-m", "nst_engine", "serve"]), timeout=5)
    assert python in caught.value.message and "installer" in caught.value.message
    assert not (tmp_path / "none.json").exists()


@pytest.mark.parametrize(("platform", "file", "verb"), [("linux", "install/install.sh", "double-click it"),
                                                        ("darwin", "install/install.command", "double-click"),
                                                        ("win32", "install\\install.bat", "double-click")])
def test_the_fix_names_the_installer_file_of_the_system(platform, file, verb):
    advice = R.installer_advice(platform, repair=True)
    assert file in advice and verb in advice and "again" in advice


def test_in_the_settings_window_the_advice_points_at_its_own_fields(tmp_path, no_engine_env, health_server):
    url = closed_port_url()
    python = sys.executable
    config = load_config(write_engine_json(tmp_path / "engine.json", url=url, token="t", python=python,
                                           command=[python, "-m", "nst_engine", "serve"]))
    problem = S.probe(config, in_window=True).problem or ""
    assert url in problem and M.SETTINGS_MENU not in problem, problem
    assert "Use the engine installed on this computer" in problem and "Save" in problem
    wrong_token = load_config(write_engine_json(tmp_path / "engine2.json", url=health_server, token="old"))
    problem = S.probe(wrong_token, in_window=True).problem or ""
    assert "token" in problem and "Token above" in problem and M.SETTINGS_MENU not in problem, problem
