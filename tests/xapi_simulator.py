"""A simulator of xapi's HTTP interface for RRD data (XenServer 6.2 behaviour), for tests.

It is not xapi: it replays the sample files under ``tests/fixtures/xen-rrd/`` with the
behaviour XEN_RRD.md §1 documents for xapi (tag XS62, ``rrdd_http_handler.ml``,
``xapi_http.ml``, ``rrdd_proxy.ml``):

* ``POST /`` XML-RPC ``session.login_with_password`` / ``session.logout``; a pool
  member answers ``HOST_IS_SLAVE <master>``; sessions are pool-wide (shared by the
  simulators of one pool);
* every GET authenticates with ``session_id`` (query or cookie) or HTTP Basic, else 401;
* ``/host_rrd`` and ``/vm_rrd``: ``HTTP/1.0 200`` with no Content-Length and no
  Content-Type, the body running until the connection closes; ``/vm_rrd`` of a VM
  held by another host answers 302 to that host, query included;
* ``/rrd_updates``: ``HTTP/1.1`` with Content-Length, ``Content-Type: text/xml`` for
  XML only; JSON when an Accept header asks for it (``*/*`` too, as xapi since
  2023-07) or, without Accept, when the ``json`` key is present (6.2); ``host``
  includes the host's columns when present; rows are those with ``t >= start``
  (inclusive), newest first, at most the 5 s archive's 120, in the 6.2 byte layout.
  The simulator's clock advances ``advance`` seconds per ``/rrd_updates`` request,
  and the values of row ``t`` are those of the sample row ``(t / 5) mod 6``.
* faults for retry tests: ``faults`` is a list consumed by ``/rrd_updates`` requests,
  ``"reset"`` (close without answering), ``"503"``, ``"garbage"`` (200 with a body that is
  no RRD), or ``None`` (answer normally).
"""
from __future__ import annotations

import base64
import http.server
import re
import ssl
import threading
import urllib.parse
import uuid as uuidlib
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "xen-rrd"
HOST_UUID = "6ae8c3e4-5f3a-4b0e-9d62-1c2b3a4d5e6f"
VM_UUID = "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011"
LASTUPDATE = 1328795567  # the samples' lastupdate


def _updates_sample() -> tuple[list[str], list[list[str]]]:
    doc = (FIXTURES / "xs62writer_rrd_updates_host_and_vm_5s.xml").read_text()
    legend = re.findall(r"<entry>([^<]*)</entry>", doc)
    rows = {int(t): re.findall(r"<v>([^<]*)</v>", body)
            for t, body in re.findall(r"<row><t>(\d+)</t>(.*?)</row>", doc)}
    # row t of the simulation shows sample row (t/5) mod 6
    by_slot = {(t // 5) % 6: values for t, values in rows.items()}
    return legend, [by_slot[i] for i in range(6)]


@dataclass
class Pool:
    """What the hosts of one pool share: users and sessions."""

    user: str = "root"
    password: str = "xs62-S3cret!"
    sessions: set[str] = field(default_factory=set)


class XapiSimulator:
    """One simulated host. ``start()`` serves on 127.0.0.1; ``url`` says where."""

    def __init__(self, pool: Pool, *, host_dump: bytes | None = None, vm_dumps: dict[str, bytes] | None = None,
                 elsewhere: dict[str, "XapiSimulator"] | None = None, master: str | None = None,
                 tls: ssl.SSLContext | None = None, advance: int = 5, faults: list | None = None):
        self.pool = pool
        self.host_dump = host_dump if host_dump is not None else \
            (FIXTURES / "xs62writer_host_rrd_dump_synthetic.xml").read_bytes()
        self.vm_dumps = vm_dumps if vm_dumps is not None else {}
        self.elsewhere = elsewhere or {}
        self.master = master
        self.tls = tls
        self.advance = advance
        self.faults = list(faults or [])
        self.clock = LASTUPDATE
        self.legend, self.rows = _updates_sample()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "XapiSimulator":
        sim = self

        class Handler(_Handler):
            simulator = sim

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    # -- behaviour ---------------------------------------------------------------
    def updates(self, query: dict[str, str], as_json: bool) -> bytes:
        with self._lock:
            self.clock += self.advance
            now = self.clock
        start = int(query["start"])
        end = now // 5 * 5
        oldest = max(start, end - 119 * 5)
        times = [t for t in range(end, oldest - 1, -5) if t >= start]
        host = "host" in query  # 6.2: the key's presence
        keep = [i for i, e in enumerate(self.legend) if host or not e.split(":")[1] == "host"]
        legend = [self.legend[i] for i in keep]
        rows = [(t, [self.rows[(t // 5) % 6][i] for i in keep]) for t in times]
        meta_start = start // 5 * 5 + 5  # derived from the query, as xapi does (not from the data)
        if as_json:  # the 6.2 hand-built, not-quite-JSON form
            data = ",".join(f"{{t:{t},values:[{','.join(v)}]}}" for t, v in rows)
            legend_js = ",".join(f'"{e}"' for e in legend)
            return (f"{{meta: {{start:{meta_start},step:5,end:{end},rows:{len(rows)},columns:{len(legend)},"
                    f"legend:[{legend_js}]}},data:[{data}]}}").encode()
        entries = "".join(f"<entry>{e}</entry>" for e in legend)
        body = "".join(f"<row><t>{t}</t>" + "".join(f"<v>{x}</v>" for x in v) + "</row>" for t, v in rows)
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<xport><meta><start>{meta_start}</start><step>5</step>'
                f"<end>{end}</end><rows>{len(rows)}</rows><columns>{len(legend)}</columns><legend>{entries}"
                f"</legend></meta><data>{body}</data></xport>").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    simulator: XapiSimulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- XML-RPC -------------------------------------------------------------
    def do_POST(self) -> None:
        sim = self.simulator
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        params, method = xmlrpc.client.loads(body)
        sim.requests.append({"method": "POST", "path": self.path, "rpc": method, "headers": dict(self.headers)})
        if method == "session.login_with_password":
            user, password = params[0], params[1]
            if sim.master is not None:
                answer = {"Status": "Failure", "ErrorDescription": ["HOST_IS_SLAVE", sim.master]}
            elif (user, password) == (sim.pool.user, sim.pool.password):
                ref = f"OpaqueRef:{uuidlib.uuid4()}"
                sim.pool.sessions.add(ref)
                answer = {"Status": "Success", "Value": ref}
            else:
                answer = {"Status": "Failure",
                          "ErrorDescription": ["SESSION_AUTHENTICATION_FAILED", user, "Authentication failure"]}
        elif method == "session.logout":
            sim.pool.sessions.discard(params[0])
            answer = {"Status": "Success", "Value": ""}
        else:
            answer = {"Status": "Failure", "ErrorDescription": ["MESSAGE_METHOD_UNKNOWN", method]}
        out = xmlrpc.client.dumps((answer,), methodresponse=True).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    # -- HTTP GET ------------------------------------------------------------
    def do_GET(self) -> None:
        sim = self.simulator
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        sim.requests.append({"method": "GET", "path": parts.path, "query": query, "headers": dict(self.headers)})
        if not self._authenticated(query):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="xapi"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path == "/host_rrd":
            self._http10(sim.host_dump)
        elif parts.path == "/vm_rrd":
            uuid = query.get("uuid", "")
            if uuid in sim.vm_dumps:
                self._http10(sim.vm_dumps[uuid])
            elif uuid in sim.elsewhere:
                # rrdd_proxy: redirect to the host that holds the RRD, keeping the query.
                self.send_response(302)
                self.send_header("Location", f"{sim.elsewhere[uuid].url}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_error(404)
        elif parts.path == "/rrd_updates":
            fault = sim.faults.pop(0) if sim.faults else None
            if fault == "reset":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "503":
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            accept = self.headers.get("Accept")
            as_json = ("json" in accept or "*/*" in accept) if accept else "json" in query
            body = sim.updates(query, as_json) if fault != "garbage" else b"<html>proxy error</html>"
            self.send_response(200)
            if not as_json:
                self.send_header("Content-Type", "text/xml")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def _authenticated(self, query: dict[str, str]) -> bool:
        pool = self.simulator.pool
        cookie = dict(c.strip().split("=", 1) for c in self.headers.get("Cookie", "").split(";") if "=" in c)
        session = cookie.get("session_id") or query.get("session_id")
        if session and session in pool.sessions:
            return True
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return (user, password) == (pool.user, pool.password)
        return False

    def _http10(self, body: bytes) -> None:
        # 6.2's rrdd_http_handler: HTTP/1.0, no Content-Length, no Content-Type, body to EOF.
        self.wfile.write(b"HTTP/1.0 200 OK\r\nAccess-Control-Allow-Origin: *\r\n\r\n")
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True
