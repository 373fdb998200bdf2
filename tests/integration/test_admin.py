"""The admin API (--admin-listen, --admin-token-file): bearer-token authentication, the live
session list with a running upload's growing bytes, kicking a session, banning and unbanning an
address, reload, counters, and refusals of unsafe settings."""
from __future__ import annotations

import os
import subprocess

import pytest

from feitp_harness import Raw, feitpd_binary, free_port, run, stor_bytes
from monitoring import TOKEN, SlowUpload, api, http, wait_for


@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "admin.token"
    p.write_text(TOKEN + "\n")
    p.chmod(0o600)
    return p


def start_with_admin(start_server, token_file, workers: int = 2, extra=None):
    port = free_port()
    srv = start_server(extra=["--admin-listen", f"127.0.0.1:{port}", "--admin-token-file",
                              str(token_file), "--workers", str(workers)] + (extra or []))
    srv.admin_port = port
    return srv


def sessions(port):
    status, body = api(port, "GET", "/api/v1/sessions")
    assert status == 200, body
    return body["sessions"]


def test_api_needs_the_bearer_token(start_server, token_file):
    srv = start_with_admin(start_server, token_file)
    p = srv.admin_port
    for path in ("/api/v1/sessions", "/api/v1/counters", "/api/v1/bans"):
        status, headers, body = http(p, "GET", path)
        assert status == 401, (path, body)
        assert headers.get("www-authenticate", "").startswith("Bearer")
        assert http(p, "GET", path, token="wrong-token-of-some-length")[0] == 401
        assert http(p, "GET", path, headers={"Authorization": TOKEN})[0] == 401  # no "Bearer "
        assert http(p, "GET", path, token=TOKEN + "x")[0] == 401
        assert http(p, "GET", path, token=TOKEN)[0] == 200
    assert http(p, "POST", "/api/v1/reload")[0] == 401
    assert http(p, "POST", "/api/v1/bans", body={"address": "127.0.0.9"})[0] == 401
    # The page itself holds no secret; it asks for the token.
    status, headers, body = http(p, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"admin.js" in body
    assert http(p, "GET", "/admin.js")[0] == 200
    assert http(p, "GET", "/admin.css")[0] == 200
    # Wrong methods and paths.
    assert http(p, "DELETE", "/api/v1/sessions", token=TOKEN)[0] == 405
    assert http(p, "GET", "/api/v1/reload", token=TOKEN)[0] == 405
    assert http(p, "GET", "/api/v1/nothing", token=TOKEN)[0] == 404
    assert http(p, "GET", "/nothing")[0] == 404


def test_sessions_show_a_running_upload_and_kick_ends_it(start_server, token_file):
    srv = start_with_admin(start_server, token_file)
    p = srv.admin_port
    idle = srv.connect()  # a second, idle session: it must survive the kick
    up = SlowUpload(srv, "/incoming/slow.bin", chunk=16384, pause=0.05)
    idle.mkd("/incoming")
    up.start()
    assert up.started_evt.wait(10) and up.error is None, up.error

    def running():
        for s in sessions(p):
            if s["transfer"] and s["transfer"]["path"] == "/incoming/slow.bin":
                return s
        return None

    first = wait_for(running, what="the upload in /api/v1/sessions")
    assert first["user"] == srv.user
    assert first["address"] == "127.0.0.1"
    assert first["tls"] is False
    assert first["command"] == "STOR"
    assert first["transfer"]["direction"] == "upload"
    # The worker is one of the master's children.
    ppid = [l for l in open(f"/proc/{first['worker']}/status") if l.startswith("PPid:")][0]
    assert int(ppid.split()[1]) == srv.proc.pid
    later = wait_for(lambda: (lambda s: s if s and s["transfer"]["bytes"] > first["transfer"]["bytes"]
                              else None)(running()), what="the upload's bytes to grow")
    assert later["id"] == first["id"]
    assert later["transfer"]["rate_bytes_per_second"] > 0
    listed = sessions(p)
    assert len(listed) == 2, listed
    idle_id = [s["id"] for s in listed if s["id"] != first["id"]][0]

    status, body = api(p, "POST", f"/api/v1/sessions/{first['id']}/kick")
    assert status == 202, body
    up.join(15)
    assert not up.is_alive()
    assert up.error is None, up.error
    assert up.closed_by_server and up.eof, (up.replies, up.final)
    assert 421 in up.replies, up.replies
    wait_for(lambda: [s["id"] for s in sessions(p)] == [idle_id], what="only the idle session left")
    idle.voidcmd("NOOP")  # untouched
    idle.quit()
    assert api(p, "POST", f"/api/v1/sessions/{first['id']}/kick")[0] == 404
    assert api(p, "POST", "/api/v1/sessions/not-an-id/kick")[0] == 400
    assert api(p, "DELETE", "/api/v1/sessions/99-1")[0] == 404


def test_ban_refuses_the_address_and_unban_lets_it_in(start_server, token_file):
    srv = start_with_admin(start_server, token_file)
    p = srv.admin_port
    status, body = api(p, "POST", "/api/v1/bans", body={"address": "127.0.0.2", "seconds": 600})
    assert status == 201, body
    assert body == {"address": "127.0.0.2", "seconds": 600}
    status, body = api(p, "GET", "/api/v1/bans")
    assert status == 200
    assert [b["address"] for b in body["bans"]] == ["127.0.0.2"]
    assert 590 <= body["bans"][0]["seconds_left"] <= 600
    # Refused at connect, on every worker.
    for _ in range(4):
        with Raw(srv, source="127.0.0.2") as r:
            assert r.greeting[0] == 421, r.greeting
    # Other addresses are not affected.
    with Raw(srv, source="127.0.0.3") as r:
        r.login()
    status, counters = api(p, "GET", "/api/v1/counters")
    assert counters["bans_active"] == 1
    status, body = api(p, "DELETE", "/api/v1/bans/127.0.0.2")
    assert status == 200, body
    with Raw(srv, source="127.0.0.2") as r:
        assert r.greeting[0] == 220
        r.login()
    assert api(p, "DELETE", "/api/v1/bans/127.0.0.2")[0] == 404
    # Bad requests.
    assert api(p, "POST", "/api/v1/bans", body={"address": "not-an-ip"})[0] == 400
    assert api(p, "POST", "/api/v1/bans", body={"address": "127.0.0.2", "seconds": 0})[0] == 400
    assert api(p, "POST", "/api/v1/bans", body=b"{not json")[0] == 400
    assert api(p, "POST", "/api/v1/bans", body={"address": "127.0.0.2", "x": "y" * 9000})[0] in (400, 413)


def test_reload_and_counters(start_server, token_file):
    srv = start_with_admin(start_server, token_file)
    p = srv.admin_port
    ftp = srv.connect()
    stor_bytes(ftp, "/c.bin", b"c" * 777)
    ftp.quit()
    counters = wait_for(lambda: (lambda c: c if c.get("uploads") == 1 else None)(
        api(p, "GET", "/api/v1/counters")[1]), what="uploads 1 in the counters")
    assert counters["bytes_in"] == 777
    assert counters["logins"] == 1
    assert counters["sessions"] == 0
    status, body = api(p, "POST", "/api/v1/reload")
    assert status == 202, body
    wait_for(lambda: "reload done: generation 2" in srv.log(), what="the reload in the log")
    # The new generation serves, and the API still answers.
    ftp = srv.connect()
    ftp.quit()
    assert api(p, "GET", "/api/v1/sessions")[0] == 200


def test_single_process_admin_works_without_reload(start_server, token_file):
    srv = start_with_admin(start_server, token_file, workers=1)
    p = srv.admin_port
    up = SlowUpload(srv, "/s.bin", chunk=8192, pause=0.05)
    up.start()
    assert up.started_evt.wait(10) and up.error is None
    s = wait_for(lambda: [x for x in sessions(p) if x["transfer"]], what="the upload")[0]
    assert s["worker"] == srv.proc.pid
    assert api(p, "POST", f"/api/v1/sessions/{s['id']}/kick")[0] == 202
    up.join(15)
    assert up.closed_by_server and 421 in up.replies, up.replies
    assert api(p, "POST", "/api/v1/reload")[0] == 409


def test_admin_refuses_a_non_loopback_address_and_a_missing_token(tmp_path, token_file):
    base = [str(feitpd_binary()), "--check", "--user", "u:p", "--root", str(tmp_path)]
    r = run(base + ["--admin-listen", "0.0.0.0:9999", "--admin-token-file", str(token_file)])
    assert r.returncode == 1
    assert "not a loopback address" in r.stderr and "--admin-allow-remote" in r.stderr, r.stderr
    r = run(base + ["--admin-listen", "0.0.0.0:9999", "--admin-token-file", str(token_file),
                    "--admin-allow-remote"])
    assert r.returncode == 0, r.stderr
    r = run(base + ["--admin-listen", "127.0.0.1:9999"])
    assert r.returncode == 1 and "admin.token_file" in r.stderr, r.stderr
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    r = run([str(feitpd_binary()), "--listen", f"127.0.0.1:{free_port()}", "--user", "u:p",
             "--root", str(tmp_path), "--admin-listen", f"127.0.0.1:{free_port()}",
             "--admin-token-file", str(short)], timeout=30)
    assert r.returncode == 1 and "at least 16 characters" in r.stderr, r.stderr
    r = run([str(feitpd_binary()), "--listen", f"127.0.0.1:{free_port()}", "--user", "u:p",
             "--root", str(tmp_path), "--admin-listen", f"127.0.0.1:{free_port()}",
             "--admin-token-file", str(tmp_path / "missing")], timeout=30)
    assert r.returncode == 1 and "missing" in r.stderr, r.stderr


def test_admin_over_https_when_configured(start_server, token_file, tmp_path):
    import http.client as hc
    import json
    import ssl
    cert, key = tmp_path / "admin.crt", tmp_path / "admin.key"
    r = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)])
    assert r.returncode == 0, r.stderr
    srv = start_with_admin(start_server, token_file,
                           extra=["--admin-tls-cert", str(cert), "--admin-tls-key", str(key)])
    ctx = ssl.create_default_context(cafile=str(cert))
    conn = hc.HTTPSConnection("127.0.0.1", srv.admin_port, timeout=10, context=ctx)
    conn.request("GET", "/api/v1/counters", headers={"Authorization": f"Bearer {TOKEN}"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert "uploads" in json.loads(resp.read())
    conn.close()
    # Plain HTTP gets no answer from an HTTPS listener.
    with pytest.raises((hc.HTTPException, ConnectionError)):
        http(srv.admin_port, "GET", "/api/v1/counters", token=TOKEN)
    # A key without its certificate is refused.
    r = run([str(feitpd_binary()), "--check", "--user", "u:p", "--root", str(tmp_path),
             "--admin-listen", "127.0.0.1:9999", "--admin-token-file", str(token_file),
             "--admin-tls-key", str(key)])
    assert r.returncode == 1 and "admin.tls_cert" in r.stderr, r.stderr
