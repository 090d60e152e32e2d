"""Headless Chromium driven over the DevTools protocol on a pipe (no extra package).

``chromium --remote-debugging-pipe`` reads protocol commands (JSON, each ended by
a NUL byte) from file descriptor 3 and writes replies and events to 4. A page is
opened in its own target; everything it logs, throws or requests is recorded.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def executable() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLog:
    """What one page did while it loaded."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, CSP violations
    requests: list[str] = field(default_factory=list)  # every URL the page asked for


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless browser; use as a context manager."""

    def __init__(self, path: str, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_fds() -> None:  # fd 3: commands in, fd 4: replies out
            import fcntl

            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [path, "--headless", "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
                "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--mute-audio", "--disable-dev-shm-usage", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child_fds, pass_fds=(3, 4))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._events: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # ----------------------------------------------------------------- protocol

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self._events.put(None)
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        box = self._replies.get(message["id"])
                    if box is not None:
                        box.put(message)
                else:
                    self._events.put(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            box = self._replies[ident] = queue.Queue()
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            reply = box.get(timeout=self.timeout)
        except queue.Empty:
            raise BrowserError(f"no reply to {method} in {self.timeout} s") from None
        finally:
            with self._lock:
                self._replies.pop(ident, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def evaluate(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session)
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    # ----------------------------------------------------------------- pages

    def open(self, url: str, *, bypass_csp: bool = False) -> tuple[str, PageLog]:
        """Load `url` in a new tab and wait for its load event and images.

        Returns the session (for :meth:`evaluate`) and what the page logged and requested.
        `bypass_csp` ignores the page's Content-Security-Policy, to test the escaping alone.
        """
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", {}, session)
        if bypass_csp:
            self.send("Page.setBypassCSP", {"enabled": True}, session)
        log = PageLog(url)
        self._drain(session, log)  # about:blank's own events
        log.requests.clear()
        self.send("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + self.timeout
        while not self._drain(session, log, until="Page.loadEventFired", deadline=deadline):
            pass
        # every image decoded (or failed) before anything is inspected
        self.evaluate(session, "Promise.all([...document.images].map(i => i.decode().catch(() => null)))")
        time.sleep(0.2)  # late console messages and requests
        self._drain(session, log)
        return session, log

    def _drain(self, session: str, log: PageLog, *, until: str | None = None,
               deadline: float | None = None) -> bool:
        """Record queued events of `session`; True once `until` was seen (or, without
        `until`, when the queue is empty)."""
        while True:
            try:
                wait = None if until is None else max(0.0, deadline - time.monotonic())
                event = self._events.get(timeout=wait) if until else self._events.get_nowait()
            except queue.Empty:
                if until is None:
                    return True
                raise BrowserError(f"{log.url}: no {until} within {self.timeout} s") from None
            if event is None:
                raise BrowserError("the browser exited")
            if event.get("sessionId") != session:
                continue
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                log.errors.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                         for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                log.errors.append(f"exception: {details.get('exception', {}).get('description') or details}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                log.errors.append(f"{params['entry'].get('source')}: {params['entry'].get('text')}")
            elif method == "Network.requestWillBeSent":
                log.requests.append(params["request"]["url"])
            if until is not None and method == until:
                return True

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
