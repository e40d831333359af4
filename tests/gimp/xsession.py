"""The real GIMP 3 GUI under Xvfb inside the GIMP root, driven with xdotool (no window manager).

X servers also listen on abstract unix sockets, which every chroot on the machine shares, so a fixed
display number can reach another run's X server (seen: "shmat() failed ... Could not attach to gimp
shared memory segment"). The display is therefore one that nothing answers on, and Xvfb itself reports
(through -displayfd) when it accepts connections: no sleep stands for readiness.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gimp_harness import GimpRoot, stop_process


def display_in_use(number: int, roots: list[Path]) -> bool:
    """Whether an X server answers on :number (abstract socket, TCP) or has claimed it in any of `roots`."""
    for address, family in ((f"\0/tmp/.X11-unix/X{number}", socket.AF_UNIX), (("127.0.0.1", 6000 + number),
                                                                              socket.AF_INET)):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            try:
                probe.connect(address)
                return True
            except OSError:
                pass
    return any((root / "tmp" / f".X{number}-lock").exists() or (root / "tmp" / ".X11-unix" / f"X{number}").exists()
               for root in roots)


def free_display(roots: list[Path], first: int | None = None) -> int:
    """A display number nothing uses; a random start makes two runs at once unlikely to try the same."""
    start = first if first is not None else random.randrange(100, 900)
    for number in range(start, start + 200):
        if not display_in_use(number, roots):
            return number
    raise RuntimeError(f"no free X display between :{start} and :{start + 199}")


@dataclass
class XSession:
    """Xvfb + GIMP's GUI binary inside the GIMP root; xdotool and ImageMagick's import from the root."""

    gimp: GimpRoot
    profile: Path
    work: Path
    display: str = ""
    env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        return {"DISPLAY": self.display, "GIMP3_DIRECTORY": self.gimp.inside(self.profile), **self.env}

    def start_x(self, attempts: int = 5, timeout: float = 60) -> None:
        """Start Xvfb on a free display; returns once it accepts connections (it says so on -displayfd)."""
        roots = sorted({Path("/"), self.gimp.root})
        for _attempt in range(attempts):
            number = free_display(roots)
            read_fd, write_fd = os.pipe()
            xlog = open(self.work / "xvfb.log", "ab")  # noqa: SIM115
            argv = ["Xvfb", f":{number}", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24",
                    "-nolisten", "tcp"]
            self.display = f":{number}"
            proc = subprocess.Popen(self.gimp.command({}, argv), stdout=xlog, stderr=subprocess.STDOUT,
                                    pass_fds=(write_fd,))
            os.close(write_fd)
            xlog.close()
            answer = b""
            deadline = time.monotonic() + timeout
            while b"\n" not in answer and time.monotonic() < deadline:
                ready, _, _ = select.select([read_fd], [], [], deadline - time.monotonic())
                chunk = os.read(read_fd, 64) if ready else b""
                if not chunk:
                    break  # Xvfb closed its end: it exited (display taken meanwhile) or timed out
                answer += chunk
            os.close(read_fd)
            if answer.strip() == str(number).encode():
                self.procs.append(proc)
                return
            proc.kill()
            proc.wait()
        log = (self.work / "xvfb.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Xvfb did not start in {attempts} attempts:\n{log}")

    def start(self, driver: Path, params: Path) -> None:
        self.start_x()
        code = f"NST_PARAMS={self.gimp.inside(params)!r}; exec(open({self.gimp.inside(driver)!r}).read())"
        glog = open(self.work / "gimp-gui.log", "wb")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            self.gimp.command(self._env(), [self.gimp.gui, "--no-splash", "--batch-interpreter=python-fu-eval",
                                            "-b", code]), stdout=glog, stderr=subprocess.STDOUT))

    def x(self, *args: str, check: bool = False) -> str:
        proc = subprocess.run(self.gimp.command(self._env(), list(args)), capture_output=True, text=True,
                              timeout=60)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{args}: {proc.stderr}")
        return proc.stdout

    def poll(self, what: str, ready: object, timeout: float, interval: float = 0.3) -> object:
        """Call `ready()` until it returns something true (returned), checking that GIMP still runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = ready()  # type: ignore[operator]
            if value:
                return value
            self.check_alive()
            time.sleep(interval)
        raise TimeoutError(f"{what} within {timeout} s")

    def wait_window(self, pattern: str, timeout: float = 60) -> str:
        def found() -> str | None:
            ids = self.x("xdotool", "search", "--onlyvisible", "--name", pattern).split()
            return ids[-1] if ids else None
        return str(self.poll(f"no window named {pattern!r}", found, timeout, 0.5))

    def wait_gone(self, window: str, timeout: float = 60) -> None:
        self.poll(f"window {window} still there",
                  lambda: window not in self.x("xdotool", "search", "--onlyvisible", "--name", ".").split(),
                  timeout, 0.5)

    def wait_file(self, path: Path, timeout: float = 120) -> None:
        self.poll(f"{path} did not appear", path.exists, timeout)

    def geometry(self, window: str) -> tuple[int, int, int, int]:
        out = self.x("xdotool", "getwindowgeometry", "--shell", window, check=True)
        vals = dict(line.split("=", 1) for line in out.split() if "=" in line)
        return int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"])

    def wait_settled(self, window: str, timeout: float = 30) -> tuple[int, int, int, int]:
        """The window's geometry once two reads in a row agree (GTK maps and sizes it in steps)."""
        last: list[tuple[int, int, int, int]] = []

        def stable() -> tuple[int, int, int, int] | None:
            last.append(self.geometry(window))
            return last[-1] if len(last) > 1 and last[-1] == last[-2] and last[-1][2] > 1 else None
        return stable() or self.poll(f"window {window} kept changing", stable, timeout, 0.2)  # type: ignore[return-value]

    def click(self, x: int, y: int) -> None:
        self.x("xdotool", "mousemove", "--sync", str(x), str(y), "click", "1", check=True)

    def key(self, window: str, keys: str) -> None:
        self.x("xdotool", "windowfocus", "--sync", window, check=False)
        self.x("xdotool", "key", "--clearmodifiers", keys, check=True)

    def shot(self, out: Path, window: str | None = None) -> None:
        """A screenshot to `out`; through a file of this run's own in the root when `out` is outside it."""
        try:
            self.x("import", "-window", window or "root", self.gimp.inside(out), check=True)
            return
        except ValueError:  # not under the root: GIMP's root cannot write there
            pass
        fd, name = tempfile.mkstemp(prefix="nst-shot-", suffix=".png", dir=self.gimp.root / "tmp")
        os.close(fd)
        try:
            self.x("import", "-window", window or "root", self.gimp.inside(Path(name)), check=True)
            shutil.copy2(name, out)
        finally:
            os.unlink(name)

    def check_alive(self) -> None:
        if self.procs and self.procs[-1].poll() is not None:
            log = (self.work / "gimp-gui.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"GIMP exited ({self.procs[-1].returncode}):\n{log}")

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs.clear()
