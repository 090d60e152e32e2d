"""``workbench fetch-rrd`` against a simulator of xapi's HTTP interface (tests/xapi_simulator.py).

The simulator is not xapi: it replays the sample files with xapi 6.2's documented HTTP
behaviour (session login, Basic auth, HTTP/1.0 dumps without Content-Length, a 302 for
a VM held by another host, JSON/XML by Accept header). Everything else is real:
sockets, TLS with a certificate made by openssl, the reader, Parquet, a SIGINT.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from workbench import cli, storage, xen_fetch
from workbench.errors import WorkbenchError
from workbench.readers import xen_rrd

from .conftest import ROOT
from .xapi_simulator import FIXTURES, HOST_UUID, LASTUPDATE, VM_UUID, Pool, XapiSimulator

OTHER_VM = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"  # placeholder uuid of a VM held by another host
NOVA = (FIXTURES / "real_vm_rrd_dump_xs60_nova_full.xml").read_bytes()
FIRST_START = LASTUPDATE // 5 * 5 + 1  # one second after the host dump's newest 5 s row

pytestmark = pytest.mark.filterwarnings("ignore::workbench.readers.xen_rrd.XenRrdWarning")


@pytest.fixture
def pool():
    """Two simulated hosts of one pool: `host` holds VM_UUID, `other` holds OTHER_VM."""
    pool = Pool()
    other = XapiSimulator(pool, vm_dumps={OTHER_VM: NOVA}).start()
    host = XapiSimulator(pool, vm_dumps={VM_UUID: NOVA}, elsewhere={OTHER_VM: other}).start()
    yield pool, host, other
    host.stop()
    other.stop()


def options(url: str, **kw) -> xen_fetch.FetchOptions:
    defaults = dict(every=0.01, max_polls=4, backoff=0.01, retries=3, timeout=10.0)
    return xen_fetch.FetchOptions(url=url, **{**defaults, **kw})


def all_bytes(directory: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(directory.rglob("*")) if p.is_file()]


def test_session_fetch_dumps_redirect_and_polls_exactly_the_unseen_rows(pool, tmp_path):
    p, host, other = pool
    lines: list[str] = []
    out = tmp_path / "run"
    result = xen_fetch.fetch(options(host.url, vms=(VM_UUID, OTHER_VM)), p.password, out, report=lines.append)

    # login by XML-RPC, then session_id on every GET, XML asked for explicitly
    assert [r["rpc"] for r in host.requests if r["method"] == "POST"] == [
        "session.login_with_password", "session.logout"]
    gets = [r for r in host.requests if r["method"] == "GET"]
    assert [r["path"] for r in gets] == ["/host_rrd", "/vm_rrd", "/vm_rrd"] + ["/rrd_updates"] * 4
    assert all(r["query"]["session_id"].startswith("OpaqueRef:") for r in gets)
    assert all(r["headers"]["Accept"] == "text/xml" for r in gets)
    # the VM held elsewhere: 302 followed to the other host, same session
    assert [r["query"]["uuid"] for r in other.requests] == [OTHER_VM]
    # start = one second after the newest row seen: every row once, none missed
    updates = [r["query"] for r in gets if r["path"] == "/rrd_updates"]
    assert [int(q["start"]) for q in updates] == [FIRST_START + 5 * i for i in range(4)]
    assert all(q["host"] == "true" and q["cf"] == "AVERAGE" and q["interval"] == "5" for q in updates)
    assert result.polls == 4 and result.rows == 4 and not result.interrupted
    assert result.host_uuid == HOST_UUID

    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == ["fetch.json", "raw/host_rrd.xml", "raw/rrd_updates_000001.xml", "raw/rrd_updates_000002.xml",
                     "raw/rrd_updates_000003.xml", "raw/rrd_updates_000004.xml",
                     f"raw/vm_rrd_{VM_UUID}.xml", f"raw/vm_rrd_{OTHER_VM}.xml", "rrd.parquet"]
    # raw = exactly what the server sent, read-only, checksummed in fetch.json
    assert (out / "raw/host_rrd.xml").read_bytes() == host.host_dump
    assert (out / f"raw/vm_rrd_{OTHER_VM}.xml").read_bytes() == NOVA
    assert not os.access(out / "raw/host_rrd.xml", os.W_OK) or os.geteuid() == 0
    assert oct((out / "raw/host_rrd.xml").stat().st_mode & 0o777) == "0o444"
    meta = json.loads((out / "fetch.json").read_text())
    for f in meta["files"]:
        assert hashlib.sha256((out / f["file"]).read_bytes()).hexdigest() == f["sha256"]
    assert [f["served_by"] for f in meta["files"][:3]] == [None, None, other.url.split("//")[1]]
    assert meta["note"] == xen_fetch.POOL_NOTE and meta["tls"] == "none (plain http)"
    assert meta["finished"] and meta["polls"] == 4 and meta["errors"] == []

    table = storage.read_table(out / "rrd.parquet")
    five = table.filter((pl.col("interval") == 5.0) & (pl.col("metric") == "cpu_util")
                        & (pl.col("component") == "total") & (pl.col("scope") == "host"))
    times = sorted(int(t.timestamp()) for t in five["time"])
    # the dump's 120 rows up to 1328795565, then the four polled rows after it, no gap, no duplicate
    assert times == list(range(1328795565 - 119 * 5, 1328795565 + 4 * 5 + 1, 5))
    assert set(table["host"].unique()) == {HOST_UUID}
    assert set(table.filter(pl.col("scope") == "guest")["guest"].unique()) == {VM_UUID, OTHER_VM}
    polled = table.filter(pl.col("source_file") == "raw/rrd_updates_000001.xml")
    assert polled["time"].unique().to_list()[0].timestamp() == 1328795570
    # every line said what happened, and that a pool needs one run per host
    assert any(xen_fetch.POOL_NOTE in line for line in lines)
    assert any(f"vm_rrd {OTHER_VM}" in line and "redirected" in line for line in lines)
    assert any(line.startswith("poll 4: 1 new row(s), t 1328795585..1328795585") for line in lines)
    # the password is in no file and no message; the session id is in no file either
    session = updates[0]["session_id"]
    for path, data in all_bytes(out):
        assert p.password.encode() not in data and session.encode() not in data, path
    assert not any(p.password in line for line in lines)


def test_basic_auth_on_every_request_and_across_the_redirect(pool, tmp_path):
    p, host, other = pool
    xen_fetch.fetch(options(host.url, auth="basic", vms=(OTHER_VM,), max_polls=1), p.password, tmp_path / "b")
    assert not [r for r in host.requests if r["method"] == "POST"]  # no XML-RPC login
    gets = [r for r in host.requests + other.requests if r["method"] == "GET"]
    assert len(gets) == 4 and all(r["headers"]["Authorization"].startswith("Basic ") for r in gets)
    assert all("session_id" not in r["query"] for r in gets)
    assert json.loads((tmp_path / "b" / "fetch.json").read_text())["auth"] == "basic"


def test_json_updates_are_the_6_2_form_and_read_alike(pool, tmp_path):
    p, host, _ = pool
    xen_fetch.fetch(options(host.url, format="json", max_polls=2), p.password, tmp_path / "j")
    req = [r for r in host.requests if r.get("path") == "/rrd_updates"]
    assert all(r["headers"]["Accept"] == "application/json" and r["query"]["json"] == "true" for r in req)
    raw = (tmp_path / "j/raw/rrd_updates_000001.json").read_bytes()
    assert raw.startswith(b"{meta: {start:")  # unquoted keys: saved as received
    xml_run = tmp_path / "x"
    host.clock = LASTUPDATE
    xen_fetch.fetch(options(host.url, max_polls=2), p.password, xml_run)
    a = storage.read_table(tmp_path / "j/rrd.parquet").drop("source_file")
    b = storage.read_table(xml_run / "rrd.parquet").drop("source_file")
    assert a.sort(a.columns).equals(b.sort(b.columns))


def test_connection_errors_are_retried_with_backoff_and_reported(pool, tmp_path):
    p, host, _ = pool
    host.faults = ["reset", "503", None, "503"]
    lines: list[str] = []
    result = xen_fetch.fetch(options(host.url, max_polls=3), p.password, tmp_path / "r", report=lines.append)
    retries = [line for line in lines if "retry" in line]
    assert retries[0].startswith("GET /rrd_updates: RemoteDisconnected: ") and retries[0].endswith(
        "retry 1/3 in 0.01 s")
    assert retries[1] == "GET /rrd_updates: HTTP 503 Service Unavailable; retry 2/3 in 0.02 s"
    assert retries[2] == "GET /rrd_updates: HTTP 503 Service Unavailable; retry 1/3 in 0.01 s"
    starts = [int(r["query"]["start"]) for r in host.requests if r.get("path") == "/rrd_updates"]
    # a failed request is asked again with the same start: nothing lost
    assert starts == [FIRST_START, FIRST_START, FIRST_START, FIRST_START + 5, FIRST_START + 5, FIRST_START + 10]
    assert result.polls == 3 and not list((tmp_path / "r").rglob("*.part"))


def test_giving_up_leaves_complete_files_and_says_why(pool, tmp_path):
    p, host, _ = pool
    host.faults = ["503"] * 10
    out = tmp_path / "g"
    with pytest.raises(WorkbenchError, match=r"GET /rrd_updates: HTTP 503 Service Unavailable \(gave up after 3 "
                                             r"retries\)"):
        xen_fetch.fetch(options(host.url), p.password, out)
    meta = json.loads((out / "fetch.json").read_text())
    assert meta["finished"] and "gave up after 3 retries" in meta["errors"][0]
    assert [f["file"] for f in meta["files"]] == ["raw/host_rrd.xml"]
    assert storage.read_table(out / "rrd.parquet").height > 0
    assert not list(out.rglob("*.part")) and not list(out.rglob("*.tmp"))


def test_wrong_password(pool, tmp_path):
    _, host, _ = pool
    with pytest.raises(WorkbenchError, match=r"login at http://127\.0\.0\.1:\d+ as root: authentication failed "
                                             r"\(SESSION_AUTHENTICATION_FAILED\)"):
        xen_fetch.fetch(options(host.url), "not-the-password", tmp_path / "w")
    assert not (tmp_path / "w" / "rrd.parquet").exists()
    with pytest.raises(WorkbenchError, match=r"GET /host_rrd: HTTP 401: root is not allowed"):
        xen_fetch.fetch(options(host.url, auth="basic"), "not-the-password", tmp_path / "w2")


def test_pool_member_needs_the_master_to_log_in(tmp_path):
    p = Pool()
    master = XapiSimulator(p).start()
    member = XapiSimulator(p, master="10.0.0.1").start()
    try:
        with pytest.raises(WorkbenchError, match=r"HOST_IS_SLAVE: this host is a pool member whose master is "
                                                 r"10\.0\.0\.1; log in there with --login-url http://10\.0\.0\.1"):
            xen_fetch.fetch(options(member.url), p.password, tmp_path / "m")
        result = xen_fetch.fetch(options(member.url, login_url=master.url, max_polls=1), p.password, tmp_path / "m2")
        assert result.polls == 1
        assert [r["rpc"] for r in master.requests if r["method"] == "POST"][0] == "session.login_with_password"
        assert [r["path"] for r in member.requests if r["method"] == "GET"] == ["/host_rrd", "/rrd_updates"]
    finally:
        master.stop()
        member.stop()


def test_output_directory_must_be_new(pool, tmp_path):
    p, host, _ = pool
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x").write_text("x")
    with pytest.raises(WorkbenchError, match=r"old: not empty; each fetch writes a new directory"):
        xen_fetch.fetch(options(host.url), p.password, tmp_path / "old")


def test_credentials_never_in_the_url(pool, tmp_path):
    with pytest.raises(WorkbenchError, match=r"credentials do not belong in the URL"):
        xen_fetch.fetch(options("https://root:pw@xs62.example"), "pw", tmp_path / "u")


# ------------------------------------------------------------------ TLS

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, as XenServer ships one for its host name."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need Debian's openssl command")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], cwd=d, check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    return d / "cert.pem", ctx


def test_tls_verified_by_default_ca_file_or_explicit_insecure(certificate, tmp_path):
    cert, ctx = certificate
    p = Pool()
    host = XapiSimulator(p, tls=ctx).start()
    try:
        with pytest.raises(WorkbenchError, match=r"https://127\.0\.0\.1:\d+: TLS certificate not trusted "
                                                 r"\(self.signed certificate\); XenServer ships a self-signed "
                                                 r"certificate: pass it with --ca-file"):
            xen_fetch.fetch(options(host.url, max_polls=1), p.password, tmp_path / "a")
        xen_fetch.fetch(options(host.url, ca_file=cert, max_polls=1), p.password, tmp_path / "b")
        assert json.loads((tmp_path / "b/fetch.json").read_text())["tls"] == "verified against cert.pem"
        xen_fetch.fetch(options(host.url, insecure=True, max_polls=1), p.password, tmp_path / "c")
        assert json.loads((tmp_path / "c/fetch.json").read_text())["tls"] == "NOT verified (--insecure)"
        assert (tmp_path / "b/raw/host_rrd.xml").read_bytes() == host.host_dump
    finally:
        host.stop()


# ------------------------------------------------------------------ command line

def test_cli_has_no_password_option(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["fetch-rrd", "https://xs62", "-o", "out", "--password", "x"])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("workbench: error: --password: passwords are never taken on the command line "
                                       "(it stays in the shell history); use --password-env NAME, or the prompt\n")


def test_cli_without_password_on_a_pipe_says_how(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_XEN_PASSWORD"}
    proc = subprocess.run([sys.executable, "-m", "workbench", "fetch-rrd", "http://127.0.0.1:9", "-o",
                           str(tmp_path / "o")], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=env, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("workbench fetch-rrd: error: no password: set the environment variable "
                                   "WORKBENCH_XEN_PASSWORD or run on a terminal to be asked")


def test_cli_ctrl_c_leaves_every_file_complete(pool, tmp_path):
    """A real SIGINT to a real `workbench fetch-rrd` process while it polls."""
    p, host, _ = pool
    out = tmp_path / "c"
    env = {**os.environ, "XS_PW": p.password}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "fetch-rrd", host.url, "-o", str(out),
                             "--password-env", "XS_PW", "--vm", VM_UUID, "--every", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while len(list((out / "raw").glob("rrd_updates_*"))) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no polls within 60 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout.startswith("interrupted; every file is complete:")
    assert xen_fetch.POOL_NOTE in stdout and "fetch-rrd: interrupted: finishing the files" in stderr
    assert not list(out.rglob("*.part")) and not list(out.rglob("*.tmp"))
    meta = json.loads((out / "fetch.json").read_text())
    assert meta["interrupted"] is True and meta["finished"]
    for f in meta["files"]:  # every raw file whole: it parses and matches its checksum
        data = (out / f["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        xen_rrd.parse(data, source=f["file"])
    table = storage.read_table(out / "rrd.parquet")
    assert table.filter(pl.col("source_file").cast(pl.String).str.starts_with("raw/rrd_updates")).height > 0
    for path, data in all_bytes(out):
        assert p.password.encode() not in data, path
    assert p.password not in stdout + stderr


def test_a_redirect_from_https_to_http_is_refused():
    """The credentials of an https session must never follow a Location to plain http."""
    import urllib.error
    import urllib.request

    from workbench.xen_fetch import _Redirects

    req = urllib.request.Request("https://xs62.example/vm_rrd?session_id=OpaqueRef:1&uuid=u",
                                 headers={"Authorization": "Basic c2VjcmV0"})
    with pytest.raises(urllib.error.URLError, match="refusing a redirect from https to http"):
        _Redirects().redirect_request(req, None, 302, "Found", {}, "http://other.example/vm_rrd?uuid=u")
    moved = _Redirects().redirect_request(req, None, 302, "Found", {}, "https://member.example/vm_rrd?uuid=u")
    assert moved.full_url == "https://member.example/vm_rrd?uuid=u"


# ------------------------------------------------------------------ issue 18 item 8

def test_cli_exits_1_when_a_response_does_not_parse(pool, tmp_path, capsys, monkeypatch):
    p, host, _ = pool
    host.faults = ["garbage"]
    monkeypatch.setenv("XS_PW", p.password)
    rc = cli.main(["fetch-rrd", host.url, "-o", str(tmp_path / "g"), "--password-env", "XS_PW", "--polls", "2",
                   "--every", "0.01", "-q"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert ("workbench fetch-rrd: error: raw/rrd_updates_000001.xml: kept as received, but it does not parse: "
            "raw/rrd_updates_000001.xml: line 1, root element: expected root element <xport>" in err), err
    meta = json.loads((tmp_path / "g" / "fetch.json").read_text())
    assert len(meta["errors"]) == 1 and meta["polls"] == 2


def test_a_password_argument_is_refused_without_echoing_it(capsys):
    for args in (["--password=hunter2"], ["--passwd", "hunter2"], ["--pass=hunter2"]):
        with pytest.raises(SystemExit) as info:
            cli.main(["fetch-rrd", "https://xs62", "-o", "out", *args])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "hunter2" not in err and "passwords are never taken on the command line" in err


def test_an_unresolvable_name_fails_at_once_and_leaves_nothing(tmp_path):
    lines: list[str] = []
    out = tmp_path / "new" / "f"
    with pytest.raises(WorkbenchError, match=r"^https://no-such-host\.invalid: the name 'no-such-host\.invalid' does "
                                             r"not resolve \(.*\); check the URL$"):
        xen_fetch.fetch(options("https://no-such-host.invalid", retries=5, backoff=30), "pw", out,
                        report=lines.append)
    assert not [line for line in lines if "retry" in line]
    assert not (tmp_path / "new").exists()  # no empty raw/ (nor its parents) left behind


def test_a_tls_handshake_failure_is_not_retried(pool, tmp_path):
    _, host, _ = pool  # a plain-http server spoken to in TLS
    lines: list[str] = []
    url = host.url.replace("http://", "https://")
    with pytest.raises(WorkbenchError, match=r"^https://127\.0\.0\.1:\d+: TLS failed \(.*\); is it an https port of a "
                                             r"XenServer host\?$"):
        xen_fetch.fetch(options(url, retries=5, backoff=30), "pw", tmp_path / "t", report=lines.append)
    assert not [line for line in lines if "retry" in line]
    assert not (tmp_path / "t").exists()


def test_timeout_option_bounds_a_silent_server(tmp_path, capsys, monkeypatch):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts (the kernel does), never answers
    monkeypatch.setenv("XS_PW", "pw")
    try:
        rc = cli.main(["fetch-rrd", f"http://127.0.0.1:{silent.getsockname()[1]}", "-o", str(tmp_path / "s"),
                       "--password-env", "XS_PW", "--timeout", "0.3", "--retries", "0", "-q"])
    finally:
        silent.close()
    err = capsys.readouterr().err
    assert rc == 2 and "timed out (gave up after 0 retries)" in err, err
    with pytest.raises(SystemExit):
        cli.main(["fetch-rrd", "http://x", "-o", str(tmp_path / "n"), "--timeout", "nope"])
    with pytest.raises(WorkbenchError, match=r"`timeout` must be a positive number of seconds, found 0.0"):
        xen_fetch.fetch(options("http://x", timeout=0.0), "pw", tmp_path / "z")
