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
