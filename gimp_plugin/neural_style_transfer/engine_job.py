"""Runs one engine job in a worker thread and hands its events to the main thread.

Why a thread: the engine client blocks on network I/O for the whole job, while GIMP's PDB is not
thread safe, so every Gimp.* call must stay on the main thread. The worker only talks to the engine
(through engine_client) and posts ("progress", dict) / ("done", RawImage) / ("error", exception) to a
queue that the main thread drains. Standard library only; no GIMP here.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

Event = tuple[str, Any]


class EngineJobRunner:
    """connect -> submit -> wait, off the main thread; cancel() and stop() are safe from any thread."""

    def __init__(self, connect: Callable[[], Any], content: Any, styles: list[bytes],
                 settings: dict[str, Any], preview: bool = False, style_names: list[str] | None = None,
                 regions: tuple[list[tuple[str, str]], list[bytes]] | None = None) -> None:
        self._connect = connect
        self._content = content
        self._styles = styles
        self._style_names = style_names
        self._regions = regions
        self._settings = settings
        self._preview = preview
        self.events: queue.Queue[Event] = queue.Queue()
        self._lock = threading.Lock()
        self._job: Any = None
        self._cancel_requested = False
        self._stop_requested = False
        self._thread = threading.Thread(target=self._work, name="nst-engine-job", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> None:
        """Ask the engine to drop the job; the worker then posts ("error", JobCancelled)."""
        with self._lock:
            self._cancel_requested = True
            job = self._job
        if job is not None:
            threading.Thread(target=_quietly, args=(job.cancel,), daemon=True).start()

    def stop(self) -> None:
        """Ask the engine to finish early with its current image ("Stop and keep")."""
        with self._lock:
            self._stop_requested = True
            job = self._job
        if job is not None:
            threading.Thread(target=_quietly, args=(job.stop,), daemon=True).start()

    def drain(self, on_progress: Callable[[Any], None], timeout: float = 0.0) -> Event | None:
        """Hand the progress events waiting (after up to `timeout` s for the first) to `on_progress`.

        Returns the outcome, ("done", RawImage) or ("error", exception), once the worker has posted
        it, else None. For the main thread: GTK windows poll it from a timer.
        """
        block = timeout > 0
        while True:
            try:
                kind, payload = self.events.get(timeout=timeout) if block else self.events.get_nowait()
            except queue.Empty:
                return None
            block = False
            if kind != "progress":
                return kind, payload
            on_progress(payload)

    def wait(self, on_progress: Callable[[Any], None], main_context: Any) -> Event:
        """Block the main thread until the outcome, turning `main_context` (a GLib.MainContext) meanwhile."""
        while True:
            while main_context.pending():
                main_context.iteration(False)
            outcome = self.drain(on_progress, timeout=0.1)
            if outcome is not None:
                return outcome

    def _work(self) -> None:
        try:
            client = self._connect()
            job = self._submit(client)
            with self._lock:
                self._job = job
                cancel, stop = self._cancel_requested, self._stop_requested
            if cancel:
                _quietly(job.cancel)
            elif stop:
                _quietly(job.stop)
            result = job.wait(lambda event: self.events.put(("progress", event)))
            self.events.put(("done", result))
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the main thread
            self.events.put(("error", exc))

    def _submit(self, client: Any) -> Any:
        """The job to follow; the learned-style procedures submit other kinds of job here."""
        more = {"regions": self._regions} if self._regions is not None else {}  # older clients take none
        return client.submit(self._content, self._styles, self._settings, preview=self._preview,
                             style_names=self._style_names, **more)


def _quietly(call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - best effort: the job's own wait() reports the outcome
        pass
