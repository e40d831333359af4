"""One engine per user: its token, the single-instance lock, the state file, and `serve` itself.

The lock and state file sit in the cache folder (0700); both files are 0600. Listening beyond
loopback is refused unless the token is long and private, since anyone who can reach the port and
holds the token can use the engine.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from nst_engine import __version__, contract
from nst_engine.errors import EngineError
from nst_engine.learned import library
from nst_engine.service.app import create_app
from nst_engine.service.config import MIN_REMOTE_TOKEN, config_from_args
from nst_engine.service.protocol import timed_protocol
from nst_engine.service.queue import JobQueue

START_WAIT = 60.0  # seconds a second engine waits for one that is starting before it gives up


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def advertised_host(host: str) -> str:
    """A host name clients can use: the machine's name for a wildcard address, brackets for IPv6.

    A name that only leads back to this computer ("localhost", or one resolving to 127.x / ::1) is
    passed over for one that reaches it from elsewhere; failing that, the machine's own name.
    """
    if host in ("0.0.0.0", "::", ""):
        names = [name for name in (socket.getfqdn(), socket.gethostname()) if name]
        host = next((name for name in names if not _only_loopback(name)),
                    next((name for name in names if not name.startswith("localhost")), "localhost"))
    return f"[{host}]" if ":" in host else host


def _only_loopback(name: str) -> bool:
    if name.startswith("localhost"):
        return True
    try:
        addresses = [str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(name, None)]
    except (OSError, UnicodeError):
        return True
    return all(is_loopback(address) for address in addresses)


def _read_or_make_token(path: Path) -> str:
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    contract.make_private_dir(path.parent)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def _remote_token(path: Path | None) -> str:
    """The token of an engine beyond loopback: given, long, and readable by its owner only."""
    if path is None:
        raise EngineError(f"Listening beyond this computer needs --token-file FILE with a token of at least "
                          f"{MIN_REMOTE_TOKEN} characters (mode 0600): the engine did not start.")
    try:
        status = path.stat()
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise EngineError(f"Cannot read the token file {path} ({error.strerror}): the engine did not start.") from None
    if sys.platform != "win32" and (status.st_mode & 0o077 or status.st_uid != os.getuid()):
        raise EngineError(f"The token file {path} can be read by others (mode {status.st_mode & 0o777:o}): "
                          f"run `chmod 600 {path}` first; the engine did not start.")
    if not _HEADER_SAFE.fullmatch(token):
        raise EngineError(f"The token in {path} must be one line of printable characters without spaces (an HTTP "
                          "client cannot send anything else): the engine did not start.")
    if len(token) < MIN_REMOTE_TOKEN:
        raise EngineError(f"The token in {path} has {len(token)} characters; beyond this computer it needs at least "
                          f"{MIN_REMOTE_TOKEN} (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`).")
    return token


def _tls_fingerprint(cert: Path | None, key: Path | None) -> str | None:
    """The SHA-256 of the certificate's DER bytes (what clients pin), checked with its key before serving."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise EngineError("TLS needs both --tls-cert and --tls-key: the engine did not start.")
    import hashlib
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        first = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", cert.read_text("ascii"), re.S)
        der = ssl.PEM_cert_to_DER_cert(first.group(0) if first else "")  # the server's own: a chain's first
    except (OSError, ValueError, ssl.SSLError) as error:
        raise EngineError(f"Cannot use {cert} with {key} for TLS ({error}): give a PEM certificate and its "
                          "private key; the engine did not start.") from None
    return hashlib.sha256(der).hexdigest()


_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what a Bearer token can be in an HTTP header


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)  # os.kill(pid, 0) would *terminate* the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def running_instance(state_file: Path) -> dict[str, Any] | None:
    """The state of an engine that still answers, or None (a stale file does not count)."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not _pid_alive(int(state.get("pid", 0))):
        return None
    try:
        with urllib.request.urlopen(f"{state['url']}/health", timeout=2) as answer:
            return state if answer.status == 200 else None
    except (OSError, ValueError, KeyError):
        return None


def _write_state(path: Path, state: dict[str, Any]) -> None:
    contract.make_private_dir(path.parent)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(tmp, path)


def _try_lock(path: Path) -> Any | None:
    """An exclusive lock on `path`, held while the returned handle stays open, or None if another process
    holds it. The OS releases it when the holder dies, so it never goes stale (unlike a pid file)."""
    contract.make_private_dir(path.parent)
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+b")
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.fchmod(handle.fileno(), 0o600)  # a lock file left by an older engine may be 0644
    except OSError:
        handle.close()
        return None
    return handle


def _claim_instance(state_file: Path) -> Any:
    """The single-instance lock beside the state file; refuses while another engine serves or starts.

    Two engines started at once (two plug-in runs) both pass a plain state-file check, so the lock
    decides; the loser waits for the winner to answer, so that its starter finds the winner.
    """
    lock_path = contract.lock_file(state_file)
    deadline = time.monotonic() + START_WAIT
    waiting_said = False

    def already_serving(other: dict[str, Any]) -> EngineError:
        return EngineError(
            f"An engine is already serving at {other['url']} (pid {other['pid']}): use it, or stop it first."
        )

    while (lock := _try_lock(lock_path)) is None:
        if not waiting_said:
            print(f"Another engine holds {lock_path}: waiting up to {START_WAIT:.0f} s for it to answer.",
                  file=sys.stderr, flush=True)
            waiting_said = True
        if (other := running_instance(state_file)) is not None:
            raise already_serving(other)
        if time.monotonic() > deadline:
            raise EngineError(
                f"Another engine holds {lock_path} but does not answer: wait for it to finish starting, or stop it."
            )
        time.sleep(0.25)
    if (other := running_instance(state_file)) is not None:  # an engine that predates the lock
        lock.close()
        raise already_serving(other)
    return lock


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if sys.platform != "win32":  # on Windows it would let another program bind the same port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise EngineError(f"Cannot listen on {host}:{port} ({error.strerror}): choose another --port.") from None
    return sock


def run_serve(args: argparse.Namespace) -> int:
    """`nst-engine serve`: claim the single instance, listen, announce, serve until stopped or idle."""
    import uvicorn

    loopback = is_loopback(args.host)
    token = None if loopback else _remote_token(args.token_file)  # refuse before claiming anything
    fingerprint = _tls_fingerprint(args.tls_cert, args.tls_key)
    state_file = args.state_file or contract.state_file()
    lock = _claim_instance(state_file)
    try:
        token_file = args.token_file or contract.cache_dir() / contract.TOKEN_FILE_NAME
        config = config_from_args(args, token or _read_or_make_token(token_file), loopback)
        restored = library.recover_interrupted()  # a style whose replacement a killed engine left halfway
        if restored:
            print(f"Put back the learned style(s) {', '.join(restored)}: the engine was stopped while replacing "
                  "them.", file=sys.stderr, flush=True)
        if not loopback:
            print(f"Listening on {args.host}, beyond this computer: anyone who can reach it and holds the token can "
                  "use the engine. Keep the token file secret.", file=sys.stderr, flush=True)
            if fingerprint is None:
                print("Without --tls-cert the token crosses the network in clear text: use TLS, or an SSH tunnel "
                      "(docs/service.md).", file=sys.stderr, flush=True)
        sock = _bind(args.host, args.port)
        app = create_app(config)
        scheme = "http" if fingerprint is None else "https"
        url = f"{scheme}://{advertised_host(args.host)}:{sock.getsockname()[1]}"
        tls = {} if fingerprint is None else {"ssl_certfile": str(args.tls_cert), "ssl_keyfile": str(args.tls_key)}
        server = _make_server(uvicorn.Config(
            app, log_level="warning", timeout_graceful_shutdown=3,
            http=timed_protocol(args.header_timeout, args.body_timeout),  # type: ignore[arg-type]
            **tls,
        ))  # fmt: skip
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: setattr(server, "should_exit", True))
        state = {"url": url, "token_file": str(token_file), "pid": os.getpid(), "version": __version__}
        if fingerprint is not None:
            state["tls_fingerprint"] = fingerprint  # what a client pins (the plug-in's engine.json)
        _write_state(state_file, state)
        print(json.dumps(state), flush=True)
        if args.idle_timeout:
            threading.Thread(target=_exit_when_idle, args=(server, app.state.queue, args.idle_timeout),
                             daemon=True).start()
        try:
            server.run(sockets=[sock])
        finally:
            app.state.queue.close()
            with contextlib.suppress(OSError, ValueError):
                if json.loads(state_file.read_text(encoding="utf-8")).get("pid") == os.getpid():
                    state_file.unlink()
    finally:
        lock.close()
    return 0


def _make_server(config: Any) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after shutting down, which would kill us before the state file is
        removed; run_serve handles the signals itself."""

        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return Server(config)


def _exit_when_idle(server: Any, queue: JobQueue, idle_timeout: float) -> None:
    while not server.should_exit:
        time.sleep(min(1.0, idle_timeout / 4))
        if not queue.busy() and time.monotonic() - queue.last_activity > idle_timeout:
            print(f"No work for {idle_timeout:g} s: the engine stops.", file=sys.stderr, flush=True)
            server.should_exit = True
