"""fetch_weights against a local HTTP server whose Range handling the tests control."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import loopback_server

from nst_engine.errors import EngineError, WeightsInvalid
from nst_engine.weights.download import DownloadFailed, ProgressBar, fetch_weights
from nst_engine.weights.formats import read_sha256_sidecar

PAYLOAD = os.urandom(300_000)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    """What the handler serves and what it saw."""

    def __init__(self) -> None:
        self.payload = PAYLOAD
        self.honour_range = True
        self.truncate_once = False
        self.status = 0  # non-zero: answer every request with this error status
        self.requests: list[str | None] = []  # the Range header of each GET


def _handler(state: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            range_header = self.headers.get("Range")
            state.requests.append(range_header)
            if state.status:
                self.send_error(state.status)
                return
            data = state.payload
            start = 0
            if range_header and state.honour_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.truncate_once:
                state.truncate_once = False
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[Server, str]]:
    state = Server()
    with loopback_server(_handler(state)) as url:
        yield state, f"{url}/models/vgg19-test.pth"


def test_full_download_verifies_and_records_sha256(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    calls: list[tuple[int, int | None]] = []
    dest = tmp_path / "w" / "vgg19-test.pth"
    path = fetch_weights(
        url, dest, sha256_prefix=DIGEST[:8], progress=lambda d, t: calls.append((d, t)), chunk_size=64_000
    )
    assert path == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name(dest.name + ".part").exists()
    assert read_sha256_sidecar(dest) == DIGEST
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert len(calls) > 2 and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert state.requests == [None]


def test_dest_folder_gets_the_url_name(server: tuple[Server, str], tmp_path: Path) -> None:
    _, url = server
    path = fetch_weights(url, tmp_path, sha256=DIGEST)
    assert path == tmp_path / "vgg19-test.pth" and path.read_bytes() == PAYLOAD


def test_resumes_a_partial_download_with_range(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    dest = tmp_path / "vgg19-test.pth"
    dest.with_name(dest.name + ".part").write_bytes(PAYLOAD[:100_000])
    calls: list[tuple[int, int | None]] = []
    fetch_weights(url, dest, sha256=DIGEST, progress=lambda d, t: calls.append((d, t)))
    assert state.requests == ["bytes=100000-"]
    assert dest.read_bytes() == PAYLOAD
    assert calls[0] == (100_000, len(PAYLOAD))


def test_server_ignoring_range_restarts_from_zero(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    state.honour_range = False
    dest = tmp_path / "vgg19-test.pth"
    dest.with_name(dest.name + ".part").write_bytes(b"x" * 100_000)  # not even the right bytes
    fetch_weights(url, dest, sha256=DIGEST)
    assert state.requests == ["bytes=100000-"]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_data(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    dest = tmp_path / "vgg19-test.pth"
    dest.with_name(dest.name + ".part").write_bytes(PAYLOAD)
    fetch_weights(url, dest, sha256=DIGEST)
    assert state.requests == [f"bytes={len(PAYLOAD)}-"]
    assert dest.read_bytes() == PAYLOAD


def test_broken_connection_keeps_part_and_next_call_resumes(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    state.truncate_once = True
    dest = tmp_path / "vgg19-test.pth"
    with pytest.raises(DownloadFailed) as caught:
        fetch_weights(url, dest, sha256=DIGEST, timeout=5)
    assert "fetch-weights" in caught.value.message and "--weights" in caught.value.message
    part = dest.with_name(dest.name + ".part")
    assert 0 < part.stat().st_size < len(PAYLOAD) and not dest.exists()
    kept = part.stat().st_size
    fetch_weights(url, dest, sha256=DIGEST)
    assert state.requests == [None, f"bytes={kept}-"]
    assert dest.read_bytes() == PAYLOAD


def test_wrong_checksum_deletes_the_download(server: tuple[Server, str], tmp_path: Path) -> None:
    _, url = server
    dest = tmp_path / "vgg19-test.pth"
    with pytest.raises(WeightsInvalid) as caught:
        fetch_weights(url, dest, sha256_prefix="00000000")
    assert "deleted" in caught.value.message and DIGEST in caught.value.message
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_gives_an_actionable_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/vgg19-test.pth"
    with pytest.raises(DownloadFailed) as caught:
        fetch_weights(url, tmp_path / "vgg19-test.pth", timeout=5)
    assert isinstance(caught.value, EngineError)
    message = caught.value.message
    assert url in message and "connection" in message and "--weights" in message and str(tmp_path) in message


def test_http_error_status_is_reported(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    state.status = 404
    with pytest.raises(DownloadFailed) as caught:
        fetch_weights(url, tmp_path / "vgg19-test.pth")
    assert "HTTP 404" in caught.value.message and "--weights" in caught.value.message


def test_present_verified_file_is_not_downloaded_again(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    dest = tmp_path / "vgg19-test.pth"
    fetch_weights(url, dest, sha256=DIGEST)
    assert len(state.requests) == 1
    fetch_weights(url, dest, sha256=DIGEST)
    dest.with_name(dest.name + ".sha256").unlink()  # without the sidecar it is hashed, still not fetched
    fetch_weights(url, dest, sha256=DIGEST)
    assert len(state.requests) == 1


def test_present_damaged_file_is_replaced(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    dest = tmp_path / "vgg19-test.pth"
    dest.write_bytes(b"not the weights")
    fetch_weights(url, dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD and len(state.requests) == 1


def test_progress_bar_draws_to_its_stream() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out, interval=0.0)
    bar(0, 2_000_000)
    bar(1_000_000, 2_000_000)
    bar(2_000_000, 2_000_000)
    text = out.getvalue()
    assert "2.0 MB" in text and "50%" in text and "100%" in text and text.endswith("\n")
    assert "#" * 30 in text
    unknown = io.StringIO()
    ProgressBar(stream=unknown, interval=0.0)(500_000, None)
    assert "0.5 MB" in unknown.getvalue()
