"""The plug-in's error messages and result-layer type, without GIMP: plain sentences that say what
happened, that the image was not changed, and the one thing to do (issue 11, points 4 and 7)."""

from __future__ import annotations

import json
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import nst_logic as L  # noqa: E402
import plugin_messages as M  # noqa: E402
from conftest import JsonHandler, loopback_server  # noqa: E402
from engine_client import EngineClient, EngineUnavailable  # noqa: E402
from engine_connection import EngineConfigError, load_config  # noqa: E402


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def shown(error: M.PluginError) -> str:
    """What GIMP shows: the plug-in composes every failure this way (neural_style_transfer.py)."""
    return M.for_artist(error.what, error.advice)


def assert_plain(message: str) -> None:
    assert "Errno" not in message and "Error(" not in message and not re.search(r"\[\w", message), message
    assert message.count("not changed") == 1, message
    assert message.index(M.UNCHANGED) > 0 and not message.endswith(M.UNCHANGED), "what, unchanged, what to do"


def write_engine_json(path: Path, **values: object) -> Path:
    path.write_text(json.dumps({"python": None, "command": None, "state_file": None, "url": None,
                                "token": None, "spawn_prefix": [], **values}))
    return path


def test_configured_engine_down_names_the_url_and_engine_json_not_a_restart(tmp_path, no_engine_env):
    url = closed_port_url()
    config = load_config(write_engine_json(tmp_path / "engine.json", url=url, token="t"))
    with pytest.raises(EngineUnavailable) as caught:
        EngineClient.connect(config, start_if_needed=True)
    message = shown(caught.value)
    assert_plain(message)
    assert url in message and str(tmp_path / "engine.json") in message
    assert message.count(url) == 1, "no repetition"
    assert "nothing is listening" in message
    assert "restart" not in message and "run the filter again" not in message.lower()  # it never starts one


def test_configured_engine_down_with_a_local_engine_offers_it(tmp_path, no_engine_env):
    python = sys.executable
    config = load_config(write_engine_json(tmp_path / "engine.json", url=closed_port_url(), python=python,
                                           command=[python, "-m", "nst_engine", "serve"]))
    with pytest.raises(EngineUnavailable) as caught:
        EngineClient.connect(config)
    assert 'remove "url"' in caught.value.advice and "installed on this computer" in caught.value.advice


def test_engine_url_from_the_environment_names_the_variable(tmp_path, no_engine_env, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("NST_ENGINE_URL", url)
    config = load_config(write_engine_json(tmp_path / "engine.json", url="http://elsewhere:1"))
    assert config.url == url and config.url_source == M.URL_ENV
    with pytest.raises(EngineUnavailable) as caught:
        EngineClient.connect(config)
    message = shown(caught.value)
    assert_plain(message)
    assert url in message and "NST_ENGINE_URL" in message and "engine.json" not in message


def test_a_bad_url_says_where_to_correct_it(tmp_path, no_engine_env):
    config = load_config(write_engine_json(tmp_path / "engine.json", url="ftp://host/x"))
    with pytest.raises(EngineUnavailable) as caught:
        EngineClient.connect(config)
    assert "ftp://host/x" in caught.value.what and str(tmp_path / "engine.json") in caught.value.advice


class _RefusesTokens(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_json(401, {"error": "wrong token"})


@pytest.fixture()
def refusing_server() -> Iterator[str]:
    with loopback_server(_RefusesTokens) as url:
        yield url


def test_a_refused_token_says_where_the_token_is_set(tmp_path, no_engine_env, refusing_server):
    config = load_config(write_engine_json(tmp_path / "engine.json", url=refusing_server, token="old"))
    with pytest.raises(EngineUnavailable) as caught:
        EngineClient.connect(config)
    message = shown(caught.value)
    assert_plain(message)
    assert "refused" in message and "wrong token" in message
    assert '"token"' in caught.value.advice and str(tmp_path / "engine.json") in caught.value.advice


def test_malformed_engine_json_gives_file_line_and_column(tmp_path, no_engine_env):
    path = tmp_path / "engine.json"
    path.write_text('{\n  "python": null,\n  "url": "http://10.0.0.2:8765\n  "token": "x"\n}\n')
    with pytest.raises(EngineConfigError) as caught:
        load_config(path)
    message = shown(caught.value)
    assert_plain(message)
    assert str(path) in message and "not valid JSON at line 3, column" in message
    assert "not installed" not in message and "installer again" in message


def test_engine_json_that_is_not_an_object_is_reported(tmp_path, no_engine_env):
    path = tmp_path / "engine.json"
    path.write_text('["url", "http://x"]')
    with pytest.raises(EngineConfigError, match="JSON object"):
        load_config(path)


def test_missing_engine_json_is_still_no_engine_configured(tmp_path, no_engine_env):
    config = load_config(tmp_path / "absent.json")
    assert config.url is None and config.command is None and config.source is None


@pytest.mark.parametrize(("error", "words"), [
    (ConnectionRefusedError(111, "Connection refused"), "nothing is listening at that address"),
    (OSError(113, "No route to host"), "no route to host"),
    (TimeoutError("timed out"), "it did not answer in time"),
    (socket.gaierror(-2, "Name or service not known"), "its host name is unknown"),
    (ValueError("odd"), "the connection failed"),
])
def test_connection_errors_are_words_not_errno(error, words):
    reason = M.connection_reason(error)
    assert reason == words
    assert not re.search(r"\d", reason)


def test_internal_errors_have_no_repr():
    what, advice = M.internal_error(KeyError("x"))
    assert "KeyError(" not in what and "report" in advice


@pytest.mark.parametrize(("base", "alpha", "expected"), [
    ("RGB", False, "RGB_IMAGE"), ("RGB", True, "RGBA_IMAGE"),
    ("GRAY", False, "GRAY_IMAGE"), ("GRAY", True, "GRAYA_IMAGE"),
])
def test_result_layer_has_alpha_only_when_the_source_has(base, alpha, expected):
    assert L.result_layer_type(base, alpha) == expected


def test_result_layer_type_refuses_indexed():
    with pytest.raises(ValueError, match="RGB and grayscale"):
        L.result_layer_type("INDEXED", False)


def test_settings_menu_is_the_submenus_engine_settings() -> None:
    """The messages name the settings entry where the menu has it (issue 23, point 7)."""
    assert M.SETTINGS_MENU == f"{L.MENU_WORDS} \u2192 Engine Settings\u2026"


class _DiesMidJob(JsonHandler):
    """An engine that accepts a job, sends one progress event and then goes away (as a SIGKILL leaves it)."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/health":
            self.send_json(200, {"status": "ok"})
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"type": "progress", "iteration": 1, "total": 100}\n')
        self.wfile.flush()  # then the connection closes without a last event

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_json(202, {"id": "job1"})


@pytest.fixture()
def dying_server() -> Iterator[str]:
    with loopback_server(_DiesMidJob) as url:
        yield url


def _killed_job_error(client: EngineClient) -> EngineUnavailable:
    job = client.submit(b"content", [b"style"], {})
    with pytest.raises(EngineUnavailable) as caught:
        job.wait()
    return caught.value


def test_a_configured_engine_that_stops_mid_job_says_so_and_to_start_it_first(tmp_path, no_engine_env,
                                                                               dying_server):
    """The plug-in never starts a configured engine: "run the filter again" alone would just fail."""
    error = _killed_job_error(EngineClient.connect(load_config(write_engine_json(
        tmp_path / "engine.json", url=dying_server, token="t"))))
    message = shown(error)
    assert_plain(message)
    assert f"The engine at {dying_server} stopped before the job ended" in message, message
    assert "crashed" in message and M.UNCHANGED in message, message
    assert error.advice == M.RESTART_REMOTE and "again" in error.advice


def test_the_managed_engine_that_stops_mid_job_says_run_again(tmp_path, dying_server):
    """The engine the plug-in started itself (found through its state file): running again starts it anew."""
    (tmp_path / "token").write_text("t")
    (tmp_path / "server.json").write_text(json.dumps({"url": dying_server, "token_file": str(tmp_path / "token")}))
    error = _killed_job_error(EngineClient.from_state_file(tmp_path / "server.json"))
    assert "stopped before the job ended" in error.what and error.advice == M.MANAGED_ADVICE
