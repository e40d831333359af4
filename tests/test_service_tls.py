"""`serve --tls-cert/--tls-key`: HTTPS, and a plug-in that pins the engine's certificate by its fingerprint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))
from engine_client import EngineClient, EngineUnavailable  # noqa: E402
from engine_connection import load_config  # noqa: E402


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-made certificate for 127.0.0.1, as an artist would make one for the engine on their PC."""
    folder = tmp_path_factory.mktemp("tls")
    server = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert, key = folder / "engine.pem", folder / "engine.key"
    server.private_key_pem.write_to_path(str(key))
    server.cert_chain_pems[0].write_to_path(str(cert))
    return cert, key


def _answers(client: EngineClient) -> bool:
    try:
        return client.health()["status"] == "ok"
    except EngineUnavailable as error:
        if "fingerprint" in error.what:
            raise
        return False


def _serve(tmp_path: Path, weights: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "NST_ENGINE_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nst_engine", "serve", "--port", "0", "--device", "cpu",
                             "--weights", str(weights), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_https_engine_is_reached_by_its_pinned_fingerprint_only(tmp_path, synthetic_weights_file, certificate,
                                                                no_engine_env) -> None:
    cert, key = certificate
    process = _serve(tmp_path, synthetic_weights_file, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        state = json.loads(process.stdout.readline())
        assert state["url"].startswith("https://") and len(state["tls_fingerprint"]) == 64
        token = Path(state["token_file"]).read_text().strip()
        # Pinned as engine.json says it: the plug-in reaches it, over TLS.
        config_file = tmp_path / "engine.json"
        config_file.write_text(json.dumps({"url": state["url"], "token": token,
                                           "tls_fingerprint": state["tls_fingerprint"].upper()}))
        client = EngineClient.configured(load_config(config_file))
        deadline = time.monotonic() + 60  # the state line comes once the port is bound, before it listens
        while not _answers(client):
            assert time.monotonic() < deadline, "the engine never answered over TLS"
            time.sleep(0.1)
        assert client.health()["status"] == "ok"
        # Another certificate (or someone in between): refused before the token is sent.
        wrong = EngineClient(state["url"], token, tls_fingerprint="00" * 32)
        with pytest.raises(EngineUnavailable) as refused:
            wrong.health()
        assert "fingerprint" in refused.value.what and "token was not sent" in refused.value.what
        # No pin: the system's authorities must vouch for it, and none knows a self-made certificate.
        with pytest.raises(EngineUnavailable, match="does not answer"):
            EngineClient(state["url"], token).health()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_tls_needs_a_certificate_and_its_key(tmp_path, synthetic_weights_file, certificate) -> None:
    cert, _key = certificate
    for extra, text in ((["--tls-cert", str(cert)], "both --tls-cert and --tls-key"),
                        (["--tls-cert", str(cert), "--tls-key", str(cert)], "Cannot use")):
        process = _serve(tmp_path, synthetic_weights_file, *extra)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2 and text in err and out == "", err
