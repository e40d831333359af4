"""Stand-ins that let the plug-in start the engine itself, from inside the GIMP root, on the host.

The artist's normal path has no engine URL configured: the plug-in runs engine.json's `command` (a
venv's Python) and, in the Flatpak GIMP, prefixes it with `flatpak-spawn --host` (`spawn_prefix`). In
the tests GIMP runs in a chroot without the engine's venv, so the plug-in's command is a stand-in that
asks this module's host-side spawner (over a unix socket in the shared work folder) to run the command
on the host, and stays alive until that process ends, as `flatpak-spawn --host` does. The spawner logs
every request, so a test can tell which path the plug-in took and how often it started an engine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from gimp_harness import stop_process

PYTHON_MARK = "@host-python"

STANDIN = '''#!/usr/bin/env python3
# Test stand-in (tests/gimp/host_spawn.py): runs the command on the host through the spawner's socket.
import json, os, socket, sys
name = os.path.basename(sys.argv[0])
args, options = sys.argv[1:], []
if name == "flatpak-spawn":
    while args and args[0].startswith("--"):
        options.append(args.pop(0))
else:
    args = [{mark!r}, *args]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect({path!r})
sock.sendall((json.dumps({{"via": name, "options": options, "argv": args, "cwd": os.getcwd()}}) + "\\n").encode())
reply = sock.makefile().readline()
sys.exit(int(json.loads(reply or '{{"exit": 1}}')["exit"]))
'''


class HostSpawner:
    """Host side: runs each requested command with `env` (its own, never the caller's), logs requests."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work = work
        self.env = env
        self.requests: list[dict[str, object]] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.socket_path = work / "spawn.sock"
        self.socket_path.unlink(missing_ok=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.socket_path))
        self.socket_path.chmod(0o777)
        self.server.listen(8)
        self.thread = threading.Thread(target=self._accept, name="host-spawner", daemon=True)
        self.thread.start()

    def write_standin(self, path: Path, socket_path: str) -> Path:
        """The stand-in script at `path` (named flatpak-spawn or e.g. python), talking to `socket_path`
        (the socket's path as the process inside the GIMP root sees it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STANDIN.format(mark=PYTHON_MARK, path=socket_path))
        path.chmod(0o755)
        return path

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = json.loads(conn.makefile().readline() or "{}")
            self.requests.append(request)
            argv = [str(a) for a in request.get("argv") or []]
            if argv[:1] == [PYTHON_MARK]:
                argv[0] = sys.executable
            log = open(self.work / f"spawned-{len(self.requests)}.log", "wb")  # noqa: SIM115
            try:
                proc = subprocess.Popen(argv, env=self.env, cwd=self.work, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                log.write(f"cannot start {argv}: {exc}\n".encode())
                conn.sendall(b'{"exit": 127}\n')
                return
            finally:
                log.close()
            self.procs.append(proc)
            code = proc.wait()
            try:
                conn.sendall((json.dumps({"exit": code}) + "\n").encode())
            except OSError:
                pass

    def close(self) -> None:
        self.server.close()
        for proc in self.procs:
            stop_process(proc)
        self.socket_path.unlink(missing_ok=True)


def stop_engine_in(state_file: Path) -> None:
    """End the engine announced in `state_file` (started by the plug-in, not by the test)."""
    try:
        pid = int(json.loads(state_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    try:  # only if that pid is still an engine (not a reused pid)
        if b"nst_engine" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, 15)
    except OSError:
        pass
