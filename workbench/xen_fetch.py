"""Collect a XenServer / XCP-ng host's RRD data the way XenCenter does (``workbench fetch-rrd``).

One host per run (XEN_RRD.md §1.3: a host's RRD and those of its resident VMs live on
that host, and ``/rrd_updates`` answers only for the host queried): a pool needs one
run per member. A run

1. logs in: an xapi session (XML-RPC ``session.login_with_password`` on the pool
   master, ``session_id`` then sent with every request, as XenCenter does) or HTTP
   Basic on every request;
2. downloads the host's full dump (``/host_rrd``) and each chosen VM's (``/vm_rrd``,
   following xapi's 302 to the host that holds a VM), reading HTTP/1.0 bodies to EOF;
3. polls ``/rrd_updates?start=S&cf=AVERAGE&interval=I&host=true`` every N seconds,
   with ``S`` one second after the newest row it has (``start`` is inclusive and rows
   are bucket ends, so this asks for exactly the rows not seen; perfmon and xenserver-
   samples' ``parse_rrd.py`` do the same), starting after the host dump's newest row;
4. saves every response body unchanged under ``raw/`` (read-only, written to a
   temporary name and renamed, so an interruption never leaves a partial file), and
   keeps ``rrd.parquet`` (the normalized table, deduplicated) and ``fetch.json``
   (what was fetched, from where, with checksums) up to date the same way.

Two xapi behaviours a run can meet: if polling falls more than the 5 s archive's ten
minutes behind, xapi answers from the next coarser archive (``find_best_rras``), which
the reader records with that ``interval``; and xapi's 2014-2023 JSON writer fails on an
empty answer (no row yet), which shows as an HTTP 5xx and is retried like one.

The password is an argument of :func:`fetch` and lives only in memory: it is never
written to a file, a message, or a URL (Basic credentials go in a header, the session
id in the query like XenCenter's, and neither is recorded). TLS is verified unless
``insecure``; connection errors and HTTP 5xx are retried with exponential backoff and
reported through the ``report`` callback (the library prints nothing).
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import polars as pl

from .errors import ParseError, WorkbenchError
from .storage import atomic_write, write_table

POOL_NOTE = ("one host per invocation: XenServer keeps a host's RRDs and those of its resident VMs on "
             "that host, so a pool needs one fetch-rrd run per member")
ORIGINATOR = "workbench fetch-rrd"
CFS = ("AVERAGE", "MIN", "MAX", "LAST")
DEFAULT_CF = "AVERAGE"  # what XenCenter draws
#: What `workbench fetch-rrd --cf` takes: a consolidation function, or all of them.
CF_CHOICES = (*CFS, "all")


@dataclass(frozen=True)
class FetchOptions:
    """What to fetch and how (everything but the password).

    Parameters
    ----------
    url : str
        The host, ``https://name[:port]`` (or ``http://``).
    user : str
        xapi user (``root``, or an RBAC user: read-only suffices for these endpoints).
    auth : {"session", "basic"}
        xapi session login (XML-RPC), or HTTP Basic on every request.
    login_url : str, optional
        Where to log in when the host is a pool member (sessions are pool-wide and only
        the master grants them); default: `url`.
    vms : tuple of str
        VM uuids whose full dumps to download (``/vm_rrd``).
    interval : int
        Archive resolution asked from ``/rrd_updates`` (seconds; 5, 60, 3600, 86400).
    every : float, optional
        Seconds between polls (default: `interval`).
    duration : float, optional
        Stop polling after this many seconds (default: until Ctrl-C or `max_polls`).
    max_polls : int, optional
        Stop after this many polls.
    cf : str or None
        Consolidation function asked for (``AVERAGE`` as XenCenter); None for all.
    format : {"xml", "json"}
        Form of the ``/rrd_updates`` responses (dumps are always XML).
    ca_file : Path, optional
        CA bundle (or the host's own certificate) to verify TLS against.
    insecure : bool
        Do not verify TLS (XenServer ships self-signed certificates).
    retries : int
        Retries of a failing request before giving up.
    backoff : float
        First retry delay in seconds, doubled each retry (at most 60 s).
    timeout : float
        Socket timeout per request, seconds.
    flush_every : float
        Seconds between rewrites of ``rrd.parquet`` and ``fetch.json`` while polling.
    """

    url: str
    user: str = "root"
    auth: str = "session"
    login_url: str | None = None
    vms: tuple[str, ...] = ()
    interval: int = 5
    every: float | None = None
    duration: float | None = None
    max_polls: int | None = None
    cf: str | None = DEFAULT_CF
    format: str = "xml"
    ca_file: Path | None = None
    insecure: bool = False
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 30.0
    flush_every: float = 60.0


@dataclass
class RawFile:
    """One saved response."""

    file: str
    endpoint: str
    query: dict[str, str]
    bytes: int
    sha256: str
    fetched: str
    served_by: str | None = None  #: host:port that answered, when a redirect moved the request


@dataclass
class FetchResult:
    """What a run produced (also written to ``fetch.json``)."""

    output_dir: Path
    host_url: str
    host_uuid: str | None = None
    files: list[RawFile] = field(default_factory=list)
    polls: int = 0
    rows: int = 0
    values: int = 0
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    started: str = ""
    finished: str | None = None
    table: Path | None = None


# ----------------------------------------------------------------------------- HTTP

def ssl_context(ca_file: Path | None, insecure: bool) -> ssl.SSLContext:
    """Verified by default (system CAs or `ca_file`); `insecure` turns verification off."""
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca_file is not None and not Path(ca_file).is_file():
        raise WorkbenchError(f"--ca-file {ca_file}: no such file")
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except ssl.SSLError as exc:
        raise WorkbenchError(f"--ca-file {ca_file}: not a PEM certificate bundle ({exc.reason})") from None


def _base(url: str, what: str = "host URL") -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WorkbenchError(f"{what} {url!r}: expected http(s)://host[:port]")
    if parts.username or parts.password:
        raise WorkbenchError(f"{what}: credentials do not belong in the URL (the password comes from the "
                             f"environment or a prompt)")
    if parts.path not in ("", "/") or parts.query:
        raise WorkbenchError(f"{what} {url!r}: expected no path or query, only http(s)://host[:port]")
    return f"{parts.scheme}://{parts.netloc}"


class _Retryable(Exception):
    """A failure worth another attempt (connection trouble, HTTP 5xx)."""


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow xapi's 302s (``/vm_rrd`` of a VM held elsewhere), keeping our headers.

    urllib keeps request headers across a redirect; the Location xapi sends carries the
    query (session_id included), so the moved request authenticates as the first did:
    that is how a pool member serves a VM it holds. A redirect from https to http is
    refused: the session id or the Basic credentials would then travel in clear.
    """

    max_redirections = 5

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url).scheme, urllib.parse.urlsplit(newurl).scheme
        if old == "https" and new != "https":
            raise urllib.error.URLError(f"refusing a redirect from https to {new} ({newurl.split('?')[0]}): "
                                        "credentials would travel in clear")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _TimeoutTransport(xmlrpc.client.SafeTransport):
    """XML-RPC over http(s) with a socket timeout (xmlrpc.client has none of its own)."""

    def __init__(self, timeout: float, context=None, https: bool = True):
        super().__init__(context=context)
        self._timeout, self._https = timeout, https

    def make_connection(self, host):
        conn = (super().make_connection(host) if self._https
                else xmlrpc.client.Transport.make_connection(self, host))
        conn.timeout = self._timeout
        return conn


class XapiClient:
    """The HTTP side of xapi for RRD data: login, authenticated GETs, logout."""

    def __init__(self, options: FetchOptions, password: str, report: Callable[[str], None],
                 stop: threading.Event):
        self.options = options
        self.base = _base(options.url)
        self.login_base = _base(options.login_url, "login URL") if options.login_url else self.base
        self.context = ssl_context(options.ca_file, options.insecure)
        self._password = password
        self._report = report
        self._stop = stop
        self.session: str | None = None
        handlers: list[Any] = [_Redirects()]
        handlers.append(urllib.request.HTTPSHandler(context=self.context))
        self._opener = urllib.request.build_opener(*handlers)

    # -- login ---------------------------------------------------------------
    def _proxy(self) -> xmlrpc.client.ServerProxy:
        https = self.login_base.startswith("https")
        transport = _TimeoutTransport(self.options.timeout, self.context if https else None, https)
        return xmlrpc.client.ServerProxy(self.login_base + "/", transport=transport)

    def login(self) -> None:
        if self.options.auth == "basic":
            return
        self.session = self.retrying("login", self._login_once)

    def _login_once(self) -> str:
        proxy = self._proxy()
        try:
            answer = proxy.session.login_with_password(self.options.user, self._password, "1.0", ORIGINATOR)
        except xmlrpc.client.ProtocolError as exc:
            if exc.errcode >= 500:
                raise _Retryable(f"HTTP {exc.errcode} {exc.errmsg}") from None
            raise WorkbenchError(f"login at {self.login_base}: HTTP {exc.errcode} {exc.errmsg}") from None
        except (xmlrpc.client.Fault, xmlrpc.client.ResponseError) as exc:
            raise WorkbenchError(f"login at {self.login_base}: not an xapi XML-RPC answer ({exc})") from None
        except OSError as exc:
            self._raise_connection(exc, self.login_base)
        if not isinstance(answer, dict) or answer.get("Status") != "Success":
            error = answer.get("ErrorDescription", ["?"]) if isinstance(answer, dict) else [repr(answer)]
            if error and error[0] == "HOST_IS_SLAVE":
                master = error[1] if len(error) > 1 else "?"
                raise WorkbenchError(f"login at {self.login_base}: HOST_IS_SLAVE: this host is a pool member "
                                     f"whose master is {master}; log in there with --login-url "
                                     f"{urllib.parse.urlsplit(self.login_base).scheme}://{master} "
                                     f"(data is still read from {self.base})")
            if error and error[0] == "SESSION_AUTHENTICATION_FAILED":
                raise WorkbenchError(f"login at {self.login_base} as {self.options.user}: authentication failed "
                                     f"(SESSION_AUTHENTICATION_FAILED)")
            raise WorkbenchError(f"login at {self.login_base}: {' '.join(map(str, error))}")
        return str(answer["Value"])

    def logout(self) -> None:
        if self.session is None:
            return
        try:
            proxy = self._proxy()
            proxy.session.logout(self.session)
        except Exception:  # best effort: the session times out on the host anyway
            pass
        self.session = None

    # -- requests ------------------------------------------------------------
    def request(self, path: str, query: dict[str, str], *, accept: str) -> urllib.request.Request:
        q = dict(query)
        headers = {"Accept": accept, "User-Agent": ORIGINATOR}
        if self.options.auth == "basic":
            token = base64.b64encode(f"{self.options.user}:{self._password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        else:
            q["session_id"] = self.session or ""
        # xapi tests key presence for some flags (6.2 'host', 'json'): keep '=' but allow ''.
        return urllib.request.Request(f"{self.base}{path}?{urllib.parse.urlencode(q)}", headers=headers)

    def download(self, path: str, query: dict[str, str], dest: Path, *, accept: str) -> tuple[int, str, str | None]:
        """GET into `dest` (atomically, read-only); ``(bytes, sha256, served_by or None)``."""
        def once():
            req = self.request(path, query, accept=accept)
            tmp = dest.with_name(f".{dest.name}.part")
            try:
                with self._opener.open(req, timeout=self.options.timeout) as resp:
                    digest = hashlib.sha256()
                    size = 0
                    with open(tmp, "wb") as fh:
                        # HTTP/1.0 dumps have no Content-Length: read to EOF (XEN_RRD.md §1.1).
                        while chunk := resp.read(1 << 16):
                            fh.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                        fh.flush()
                        os.fsync(fh.fileno())
                    served = urllib.parse.urlsplit(resp.geturl()).netloc
                if dest.exists():
                    raise WorkbenchError(f"{dest}: exists already; raw files are never overwritten")
                os.replace(tmp, dest)
                os.chmod(dest, 0o444)
                return size, digest.hexdigest(), (served if served != urllib.parse.urlsplit(self.base).netloc
                                                  else None)
            except urllib.error.HTTPError as exc:
                if exc.code >= 500:
                    raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
                if exc.code in (401, 403):
                    raise _AuthRefused(exc.code) from None
                raise WorkbenchError(f"GET {path}: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                self._raise_connection(exc, self.base)
            finally:
                tmp.unlink(missing_ok=True)
        try:
            return self.retrying(f"GET {path}", once)
        except _AuthRefused as exc:
            if self.options.auth == "session":
                # A session can expire (xapi restart, timeout): log in again, once.
                self._report(f"GET {path}: HTTP {exc.code}: session refused, logging in again")
                self.login()
                try:
                    return self.retrying(f"GET {path}", once)
                except _AuthRefused as again:
                    exc = again
            raise WorkbenchError(f"GET {path}: HTTP {exc.code}: {self.options.user} is not allowed "
                                 f"(wrong credentials or RBAC role)") from None

    def _raise_connection(self, exc: BaseException, where: str):
        reason = exc if isinstance(exc, ssl.SSLError) else getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise WorkbenchError(
                f"{where}: TLS certificate not trusted ({reason.verify_message}); XenServer "
                f"ships a self-signed certificate: pass it with --ca-file (dom0's /etc/xensource/xapi-ssl.pem "
                f"certificate part) or, knowingly, --insecure") from None
        # Retrying cannot help these: a name that does not resolve, a TLS handshake that
        # fails (wrong protocol or port), a local file that cannot be written.
        if isinstance(reason, socket.gaierror):
            host = urllib.parse.urlsplit(where).hostname or where
            raise WorkbenchError(f"{where}: the name {host!r} does not resolve ({reason.strerror or reason}); "
                                 "check the URL") from None
        if isinstance(reason, ssl.SSLError):
            raise WorkbenchError(f"{where}: TLS failed ({reason.reason or reason}); is it an https port of a "
                                 "XenServer host?") from None
        if isinstance(exc, OSError) and getattr(exc, "filename", None):
            raise WorkbenchError(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
        raise _Retryable(f"{type(reason).__name__}: {reason}") from None

    def retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        """Call `fn`, retrying :class:`_Retryable` failures with exponential backoff."""
        delay = self.options.backoff
        for attempt in range(self.options.retries + 1):
            try:
                return fn()
            except _Retryable as exc:
                if attempt == self.options.retries:
                    raise WorkbenchError(f"{what}: {exc} (gave up after {self.options.retries} "
                                         f"retr{'y' if self.options.retries == 1 else 'ies'})") from None
                self._report(f"{what}: {exc}; retry {attempt + 1}/{self.options.retries} in {delay:g} s")
                if self._stop.wait(delay):
                    raise KeyboardInterrupt from None
                delay = min(delay * 2, 60.0)
        raise AssertionError("unreachable")


class _AuthRefused(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


# ----------------------------------------------------------------------------- the run

def fetch(options: FetchOptions, password: str, output_dir: str | os.PathLike, *,
          report: Callable[[str], None] = lambda message: None,
          stop: threading.Event | None = None) -> FetchResult:
    """Download dumps and poll ``rrd_updates`` into `output_dir` (see the module docstring).

    Parameters
    ----------
    options : FetchOptions
    password : str
        Kept in memory only.
    output_dir : path
        A new or empty directory.
    report : callable
        Receives one line per event (progress, retries, errors).
    stop : threading.Event, optional
        Setting it ends the polling like Ctrl-C does.

    Returns
    -------
    FetchResult
        Also written to ``fetch.json``. Ctrl-C (KeyboardInterrupt) during the run ends it
        cleanly: every file is complete and ``interrupted`` is True.
    """
    _check(options)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"{out}: exists and is not a directory; each fetch writes a new directory")
    if out.exists() and any(out.iterdir()):
        raise WorkbenchError(f"{out}: not empty; each fetch writes a new directory (raw data is immutable)")
    # Folders are made when the first response arrives (_Run.save): a run that fetched
    # nothing (a wrong URL, a refused login) leaves nothing behind.
    created = [p for p in (out, *out.parents) if not p.exists()]
    stop = stop or threading.Event()
    client = XapiClient(options, password, report, stop)
    run = _Run(options, client, out, report)
    report(f"host {client.base} ({POOL_NOTE})")
    report(f"TLS: {run.tls}")
    try:
        client.login()
        if client.session:
            report(f"logged in at {client.login_base} as {options.user} (xapi session)")
        run.dumps()
        run.poll(stop)
    except KeyboardInterrupt:
        run.result.interrupted = True
        report("interrupted: finishing the files")
    except WorkbenchError as exc:
        run.result.errors.append(str(exc))
        client.logout()
        if not run.result.files:  # nothing fetched: leave no empty folders behind
            for folder in (out / "raw", *created):
                try:
                    folder.rmdir()
                except OSError:  # not ours to remove, or not empty
                    break
            raise
        run.finish()
        raise
    run.finish()
    client.logout()
    return run.result


def _check(options: FetchOptions) -> None:
    if options.auth not in ("session", "basic"):
        raise WorkbenchError(f"`auth` must be session or basic, found {options.auth!r}")
    if options.format not in ("xml", "json"):
        raise WorkbenchError(f"`format` must be xml or json, found {options.format!r}")
    if options.cf is not None and options.cf not in CFS:
        raise WorkbenchError(f"`cf` must be one of {', '.join(CFS)} (or all), found {options.cf!r}")
    if options.interval <= 0 or (options.every is not None and options.every <= 0):
        raise WorkbenchError("the interval and the polling period must be positive")
    if options.retries < 0:
        raise WorkbenchError("`retries` must be >= 0")
    if not 0 < options.timeout < 86400:  # also refuses NaN
        raise WorkbenchError(f"`timeout` must be a positive number of seconds, found {options.timeout!r}")


class _Run:
    def __init__(self, options: FetchOptions, client: XapiClient, out: Path, report: Callable[[str], None]):
        self.options = options
        self.client = client
        self.out = out
        self.report = report
        self.result = FetchResult(out, client.base, started=_now())
        self.frames: dict[str, pl.DataFrame] = {}  # raw file -> its table, unlabelled
        self.labels: dict[str, dict[str, Any]] = {}
        self.last_flush = time.monotonic()
        if options.insecure:
            self.tls = "NOT verified (--insecure)"
        elif options.ca_file:
            self.tls = f"verified against {Path(options.ca_file).name}"
        else:
            self.tls = "verified (system CAs)" if client.base.startswith("https") else "none (plain http)"

    def save(self, endpoint: str, query: dict[str, str], name: str, *, accept: str) -> RawFile:
        dest = self.out / "raw" / name
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkbenchError(f"cannot create {dest.parent}: {exc.strerror or exc}") from None
        size, digest, served = self.client.download(endpoint, query, dest, accept=accept)
        rec = RawFile(f"raw/{name}", endpoint, query, size, digest, _now(), served)
        self.result.files.append(rec)
        return rec

    def parse(self, rec: RawFile, kind: str, **labels: Any) -> pl.DataFrame | None:
        import warnings

        from .readers import xen_rrd
        path = self.out / rec.file
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame = {"dump": xen_rrd.parse_dump, "updates": xen_rrd.parse_updates}[kind](
                    path.read_bytes(), source=rec.file).table
            for w in caught:
                if issubclass(w.category, xen_rrd.CounterWrapWarning):
                    self.report(str(w.message))
        except ParseError as exc:
            message = f"{rec.file}: kept as received, but it does not parse: {exc}"
            self.result.errors.append(message)
            self.report(message)
            return None
        self.frames[rec.file] = frame
        self.labels[rec.file] = labels
        return frame

    def dumps(self) -> None:
        rec = self.save("/host_rrd", {}, "host_rrd.xml", accept="text/xml")
        frame = self.parse(rec, "dump")
        self.report(f"host_rrd: {rec.bytes / 1e3:.0f} kB -> {rec.file}")
        self.first_start = None
        if frame is not None and frame.height:
            same = frame.filter(pl.col("interval") == float(self.options.interval))
            newest = (same if same.height else frame)["time"].max()
            self.first_start = int(newest.timestamp()) + 1
        for uuid in self.options.vms:
            rec = self.save("/vm_rrd", {"uuid": uuid}, f"vm_rrd_{_safe(uuid)}.xml", accept="text/xml")
            self.parse(rec, "dump", guest=uuid)
            moved = f" (redirected to {rec.served_by})" if rec.served_by else ""
            self.report(f"vm_rrd {uuid}: {rec.bytes / 1e3:.0f} kB{moved} -> {rec.file}")
        self.flush()

    def poll(self, stop: threading.Event) -> None:
        o = self.options
        every = o.every if o.every is not None else float(o.interval)
        # Without a dump row to start after, ask for the last ten minutes, as rrd2csv does.
        start = self.first_start if self.first_start is not None else int(time.time()) - 600
        began = time.monotonic()
        deadline = began + o.duration if o.duration is not None else None
        until = f"for {o.duration:g} s" if o.duration is not None else "until Ctrl-C"
        if o.max_polls is not None:
            until += f" or {o.max_polls} polls"
        self.report(f"rrd_updates: every {every:g} s, {o.interval} s rows, {until}")
        next_poll = began
        bad_in_a_row = 0
        while o.max_polls is None or self.result.polls < o.max_polls:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if next_poll > now:
                wait = next_poll - now if deadline is None else min(next_poll - now, deadline - now)
                if stop.wait(wait):
                    raise KeyboardInterrupt
                continue
            if stop.is_set():
                raise KeyboardInterrupt
            next_poll = max(next_poll + every, time.monotonic())
            query = {"start": str(start), "interval": str(o.interval), "host": "true"}
            if o.cf is not None:
                query["cf"] = o.cf
            if o.format == "json":
                query["json"] = "true"
            self.result.polls += 1
            suffix = "json" if o.format == "json" else "xml"
            rec = self.save("/rrd_updates", query, f"rrd_updates_{self.result.polls:06d}.{suffix}",
                            accept="application/json" if o.format == "json" else "text/xml")
            frame = self.parse(rec, "updates")
            if frame is None:
                bad_in_a_row += 1
                if bad_in_a_row > o.retries:
                    raise WorkbenchError(f"{bad_in_a_row} rrd_updates responses in a row do not parse; "
                                         f"last: {self.result.errors[-1]}")
                continue
            bad_in_a_row = 0
            if self.result.host_uuid is None:
                hosts = frame.filter(pl.col("scope").is_in(["host", "control-domain"]))["host"].drop_nulls()
                if hosts.len():
                    self.result.host_uuid = hosts[0]
            if frame.height:
                times = frame["time"]
                start = int(times.max().timestamp()) + 1
                n = times.n_unique()
                self.result.rows += n
                self.report(f"poll {self.result.polls}: {n} new row(s), t {int(times.min().timestamp())}.."
                            f"{start - 1}")
            else:
                self.report(f"poll {self.result.polls}: no new row yet")
            if time.monotonic() - self.last_flush >= o.flush_every:
                self.flush()

    def table(self) -> pl.DataFrame | None:
        from . import readers
        host = self.result.host_uuid or urllib.parse.urlsplit(self.client.base).hostname
        frames = [readers.validate_labelled(frame, self.labels[name], {"host": host}, source=name)
                  for name, frame in self.frames.items() if frame.height]
        if not frames:
            return None
        keys = ["host", "guest", "scope", "metric", "component", "aggregate", "interval", "time"]
        # A VM dump fetched a moment after the host dump may repeat a row the first poll
        # also returns: keep the first copy.
        return pl.concat(frames).unique(subset=keys, keep="first", maintain_order=True)

    def flush(self) -> None:
        table = self.table()
        if table is not None:
            self.result.table = write_table(table, self.out / "rrd.parquet",
                                            metadata={"producer": {"name": ORIGINATOR}})
            self.result.values = table.height
        self.write_meta()
        self.last_flush = time.monotonic()

    def finish(self) -> None:
        self.result.finished = _now()
        try:
            self.flush()
        except WorkbenchError as exc:  # never lose fetch.json over a table problem
            self.result.errors.append(str(exc))
            self.write_meta()

    def write_meta(self) -> None:
        r = self.result
        meta = {
            "tool": ORIGINATOR, "host_url": r.host_url, "host_uuid": r.host_uuid, "note": POOL_NOTE,
            "user": self.options.user, "auth": self.options.auth, "login_url": self.client.login_base,
            "tls": self.tls, "interval": self.options.interval,
            "every": self.options.every if self.options.every is not None else self.options.interval,
            "cf": self.options.cf or "all", "format": self.options.format, "vms": list(self.options.vms),
            "started": r.started, "finished": r.finished, "interrupted": r.interrupted, "polls": r.polls,
            "rows": r.rows, "values": r.values, "table": "rrd.parquet" if r.table else None,
            "errors": r.errors, "files": [vars(f) for f in r.files],
        }
        atomic_write(self.out / "fetch.json", (json.dumps(meta, indent=2) + "\n").encode())


def _safe(uuid: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in uuid)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
