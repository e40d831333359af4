"""`nst-engine fetch-weights`: download torchvision's VGG-19 from its official address, safely.

Standard library only. The download goes to `FILE.part` and resumes with an HTTP Range request (a
server that ignores Range makes it start again); the finished file is checked against the SHA-256
torchvision publishes in its name (`dcbb9e9d`) before it replaces anything, and the full digest is
kept in the `FILE.sha256` sidecar that `weights.file_sha256` reads (`nst-engine info` shows it).
"""

from __future__ import annotations

import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from typing import TextIO

from nst_engine import contract
from nst_engine.errors import EngineError, WeightsInvalid
from nst_engine.weights.formats import compute_sha256, file_sha256, sidecar_path, write_sha256_sidecar

OFFICIAL_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
OFFICIAL_SHA256_PREFIX = "dcbb9e9d"

ProgressCallback = Callable[[int, "int | None"], None]


class DownloadFailed(EngineError):
    """The weights could not be downloaded (network or server); the partial file is kept to resume."""


def _default_dest(url: str) -> Path:
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "vgg19-dcbb9e9d.pth"
    return contract.weights_dir() / name


def _matches(digest: str, sha256: str | None, sha256_prefix: str | None) -> bool:
    """A full `sha256`, when given, decides alone; otherwise the prefix does."""
    if sha256 is not None:
        return digest == sha256.lower()
    return sha256_prefix is None or digest.startswith(sha256_prefix.lower())


def _network_error(url: str, dest: Path, reason: str) -> DownloadFailed:
    return DownloadFailed(
        f"Could not download the VGG-19 weights from {url} ({reason}). Check the internet connection "
        f"and run `nst-engine fetch-weights` again (it resumes where it stopped), or download the file "
        f"by hand from {url} and pass --weights FILE, or put it in {dest.parent}."
    )


def fetch_weights(
    url: str = OFFICIAL_URL,
    dest: str | os.PathLike[str] | None = None,
    sha256_prefix: str | None = OFFICIAL_SHA256_PREFIX,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download `url` to `dest` (default: `weights_dir()/<name in the URL>`) and verify it.

    An existing file that passes the check is kept and nothing is downloaded. `progress(done, total)`
    is called as bytes arrive (`total` None when the server does not say). A checksum mismatch deletes
    the download and raises WeightsInvalid; network trouble raises DownloadFailed, keeping `.part`.
    """
    target = Path(dest) if dest is not None else _default_dest(url)
    if target.is_dir():
        target = target / _default_dest(url).name
    if target.is_file():
        if _matches(file_sha256(target), sha256, sha256_prefix):
            size = target.stat().st_size
            if progress is not None:
                progress(size, size)
            return target
        target.unlink()  # damaged or foreign: fetch a good one in its place
        sidecar_path(target).unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")

    _download(url, target, part, progress, timeout, chunk_size)

    digest = compute_sha256(part)
    if not _matches(digest, sha256, sha256_prefix):
        part.unlink(missing_ok=True)
        expected = sha256 or f"{sha256_prefix}..."
        raise WeightsInvalid(
            f"The file downloaded from {url} has SHA-256 {digest}, not {expected}; it was deleted. "
            f"Run `nst-engine fetch-weights` again; if this repeats, download it by hand from {url} "
            f"and pass --weights FILE."
        )
    os.replace(part, target)
    write_sha256_sidecar(target, digest)
    return target


def _download(
    url: str, target: Path, part: Path, progress: ProgressCallback | None, timeout: float, chunk_size: int
) -> None:
    """Fill `part` with the whole resource, resuming from its current size when the server allows."""
    for _attempt in range(2):  # a second go only after a 416 on a stale .part
        offset = part.stat().st_size if part.is_file() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "nst-engine", "Accept-Encoding": "identity"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                total = _total_from_content_range(exc.headers.get("Content-Range"))
                exc.close()
                if total is not None and total == offset:
                    return  # the .part is already complete
                part.unlink()
                continue
            raise _network_error(url, target, f"the server answered HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise _network_error(url, target, str(reason)) from None
        with response:
            status = getattr(response, "status", 200)
            length = response.headers.get("Content-Length")
            if offset and status == 206:
                start = _start_from_content_range(response.headers.get("Content-Range"))
                if start is not None and start != offset:  # an odd answer: start over
                    response.close()
                    part.unlink()
                    continue
                mode, done = "ab", offset
                total = _total_from_content_range(response.headers.get("Content-Range"))
                if total is None and length is not None:
                    total = offset + int(length)
            else:  # 200: a fresh download, or a server that ignored Range
                mode, done = "wb", 0
                total = int(length) if length is not None else None
            try:
                with open(part, mode) as handle:
                    if progress is not None:
                        progress(done, total)
                    while chunk := response.read(chunk_size):
                        handle.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except (OSError, HTTPException, ValueError) as exc:
                if isinstance(exc, OSError) and exc.filename is not None:
                    raise DownloadFailed(
                        f"Could not write {part}: {exc.strerror}. Free some disk space "
                        f"or pass --weights FILE with a copy you downloaded."
                    ) from None
                raise _network_error(url, target, f"the connection broke after {done} bytes: {exc}") from None
        if total is not None and done < total:
            raise _network_error(url, target, f"the connection closed after {done} of {total} bytes")
        return
    raise _network_error(url, target, "the server would not resume the partial download")


def _start_from_content_range(value: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(?:\d+-\d+|\*)/(\d+)", value or "")
    return int(match.group(1)) if match else None


class ProgressBar:
    """A one-line progress bar on stderr, like pip's: `  123.4/548.1 MB  22% [####....] 9.8 MB/s`."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, interval: float = 0.1, label: str = "") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = interval
        self.label = label
        self._started = time.monotonic()
        self._last = 0.0
        self._first_done: int | None = None
        self._finished = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self._first_done is None:
            self._first_done, self._started = done, now
        complete = total is not None and done >= total
        if not complete and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write("\r" + self.render(done, total, now))
        if complete and not self._finished:
            self._finished = True
            self.stream.write("\n")
        self.stream.flush()

    def render(self, done: int, total: int | None, now: float | None = None) -> str:
        elapsed = (now if now is not None else time.monotonic()) - self._started
        speed = (done - (self._first_done or 0)) / elapsed if elapsed > 0 else 0.0
        mb = 1e6
        prefix = f"{self.label} " if self.label else ""
        rate = f"{speed / mb:.1f} MB/s" if speed > 0 else "-- MB/s"
        if total:
            fraction = min(1.0, done / total)
            filled = int(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            eta = ""
            if 0 < speed and done < total:
                seconds = int((total - done) / speed)
                eta = f" eta {seconds // 60}:{seconds % 60:02d}"
            return f"{prefix}{done / mb:7.1f}/{total / mb:.1f} MB {fraction:4.0%} [{bar}] {rate}{eta}"
        return f"{prefix}{done / mb:7.1f} MB {rate}"
