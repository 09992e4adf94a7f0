"""Progress of a fit: groups done, trials run and ETA, on one line of stderr.

Backends that stream results (local, Ray) report each group as its result arrives. Spark
returns results only when its job ends, so its workers also tell the driver over a small TCP
side channel (:class:`ProgressServer`, :func:`notify`) as each group finishes.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import sys
import threading
import time
from typing import IO, Any


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts finished groups (each key once) and draws a progress line.

    Parameters
    ----------
    total : int or None
        Groups in the fit, when known (Spark learns it from its first query: :meth:`set_total`).
    enabled : bool
        Draw the line; counting happens either way.
    stream : file, default sys.stderr
    """

    def __init__(self, total: int | None, enabled: bool, stream: IO[str] | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.trials = 0
        self.sources: dict[tuple[Any, ...], str] = {}
        self._resumed = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn_done: int | None = None  # groups done when a line was last written
        self._lock = threading.Lock()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def set_total(self, total: int) -> None:
        with self._lock:
            self.total = total
            self._draw(force=True)

    def update(self, key: tuple[Any, ...], n_trials: int, source: str = "result") -> None:
        """Group ``key`` finished after ``n_trials`` trials; ``source`` says who reported it
        (``"result"``, ``"worker"`` or ``"checkpoint"``). A key already counted is ignored."""
        with self._lock:
            if key in self.sources:
                return
            self.sources[key] = source
            self.done += 1
            self.trials += int(n_trials)
            if source == "checkpoint":
                self._resumed += 1
            self._draw(force=self.done == self.total)

    def line(self) -> str:
        """The progress text, e.g. ``tuning 12/50 groups (24%) | 96 trials | 3.1 trials/s | ETA 0:01:20``."""
        elapsed = time.monotonic() - self._started
        total = "?" if self.total is None else str(self.total)
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        text = f"tuning {self.done}/{total} groups{share} | {self.trials} trials"
        if elapsed > 0:
            text += f" | {self.trials / elapsed:.1f} trials/s"
        fresh = self.done - self._resumed
        if self.total is not None and 0 < fresh and self.done < self.total:
            text += f" | ETA {_clock(elapsed / fresh * (self.total - self.done))}"
        elif self.total is not None and self.done >= self.total:
            text += f" | {_clock(elapsed)}"
        return text

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < (0.1 if self._tty else 2.0):
            return
        self._last_draw = now
        self._drawn_done = self.done
        if self._tty:
            self.stream.write("\r" + self.line().ljust(78))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        with self._lock:
            if self.enabled:
                if self._tty:
                    self.stream.write("\r" + self.line().ljust(78) + "\n")
                elif self._drawn_done != self.done:  # not when that line is already written
                    self.stream.write(self.line() + "\n")
                self.stream.flush()
            self.enabled = False


class ProgressServer:
    """A TCP listener on the driver; each line a worker sends reports one finished group.

    It listens on ``host`` only (every interface only when ``host`` is not one of this
    machine's), and counts only lines that carry the random token of its ``address``: a
    process that did not get the address from the driver can't move the progress bar. A
    connection sends at most 64 KB.

    Parameters
    ----------
    progress : Progress
    host : str
        The address workers reach the driver at (Spark's ``spark.driver.host``).
    """

    #: Bytes read from one connection at most (a worker sends one short line).
    MAX_BYTES = 65536

    def __init__(self, progress: Progress, host: str) -> None:
        self.progress = progress
        self._token = secrets.token_hex(16)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.bind((host, 0))
        except OSError:  # a name this machine can't bind (e.g. behind NAT): every interface
            self._sock.bind(("", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        #: (host, port, token): what a worker needs to report (:func:`notify`).
        self.address = (host, self._sock.getsockname()[1], self._token)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="prophet_grouped-progress", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                data = b""
                try:
                    while len(data) < self.MAX_BYTES and (chunk := conn.recv(self.MAX_BYTES)):
                        data += chunk
                except OSError:
                    pass
            for line in data[: self.MAX_BYTES].splitlines():
                try:
                    message = json.loads(line)
                    if not hmac.compare_digest(str(message["token"]), self._token):
                        continue
                    self.progress.update(tuple(message["key"]), int(message["trials"]), "worker")
                except (ValueError, KeyError, TypeError):
                    continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sock.close()

    def __enter__(self) -> ProgressServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def notify(address: tuple[str, int, str] | None, key: tuple[Any, ...], n_trials: int) -> None:
    """Tell the driver at ``address`` (a :class:`ProgressServer`'s) that group ``key``
    finished; never raises (progress is best effort: a worker that can't reach the driver
    still returns its result)."""
    if address is None:
        return
    try:
        host, port, token = address
        with socket.create_connection((host, port), timeout=2.0) as sock:
            message = {"token": token, "key": list(key), "trials": n_trials}
            sock.sendall((json.dumps(message) + "\n").encode())
    except (OSError, TypeError, ValueError):
        pass
