"""An engine listening beyond loopback: refused without a long private token, and guarded when it runs.

These engines bind the wildcard address, but every request here goes to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from service_helpers import json_call, line_containing


def _serve(tmp_path: Path, weights: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "NST_ENGINE_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nst_engine", "serve", "--port", "0", "--weights", str(weights),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _token_file(tmp_path: Path, token: str, mode: int) -> Path:
    path = tmp_path / "token"
    path.write_text(token + "\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("token", "mode", "text"), [
    (None, 0o600, "needs --token-file"),
    ("x", 0o600, "at least 32"),
    (secrets.token_urlsafe(32), 0o644, "chmod 600"),
    ("abc\n" + secrets.token_urlsafe(32), 0o600, "one line of printable characters"),  # no client can send it
])
def test_beyond_loopback_it_refuses_to_start_without_a_long_private_token(tmp_path, synthetic_weights_file,
                                                                          token, mode, text):
    extra = [] if token is None else ["--token-file", str(_token_file(tmp_path, token, mode))]
    process = _serve(tmp_path, synthetic_weights_file, "--host", "0.0.0.0", *extra)
    try:
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 2 and text in err and out == "", err
    assert not (tmp_path / "home" / "cache" / "server.json").exists()


class _Local:
    """What service_helpers needs of an engine, pointed at 127.0.0.1 whatever the engine advertises."""

    def __init__(self, port: int, token: str) -> None:
        self.url, self.token = f"http://127.0.0.1:{port}", token


def _answers(engine: _Local) -> bool:
    try:
        return json_call(engine, "GET", "/health", token=None)[0] == 200
    except OSError:
        return False


def test_beyond_loopback_docs_need_the_token_and_the_url_names_the_host(tmp_path, synthetic_weights_file):
    token = secrets.token_urlsafe(32)
    process = _serve(tmp_path, synthetic_weights_file, "--host", "0.0.0.0",
                     "--token-file", str(_token_file(tmp_path, token, 0o600)))
    try:
        state = json.loads(process.stdout.readline())
        url = urllib.parse.urlsplit(state["url"])
        assert url.hostname not in ("0.0.0.0", "", None) and url.port
        engine = _Local(url.port, token)
        deadline = time.monotonic() + 60
        while not _answers(engine):
            assert time.monotonic() < deadline, "the engine never answered"
            time.sleep(0.05)
        assert set(json_call(engine, "GET", "/health", token=None)[1]) == {"status", "version"}
        for path in ("/docs", "/redoc", "/openapi.json"):
            status, answer = json_call(engine, "GET", path, token=None)
            assert status == 401 and "token" in answer["error"], path
        assert json_call(engine, "GET", "/openapi.json")[0] == 200
        assert line_containing(process.stderr, "beyond this computer", timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=30)
