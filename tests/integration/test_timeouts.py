"""Timeouts and limits that mean what they say.

- Before login, every refused command (unknown verb, or 530 for want of a login) counts against
  `max_unknown_before_login` (F19)."""
from feitp_harness import Raw


# --- F19: refused commands before login ------------------------------------------------------------

def test_refused_commands_before_login_close_with_421(server):
    """F19: `max_unknown_before_login` (10) counts commands refused for want of a login, not only
    unknown verbs: 10 × `CWD /` get 530, the 11th gets 421 and the connection closes."""
    with Raw(server, timeout=10) as r:
        for i in range(10):
            code, text = r.cmd("CWD /")
            assert code == 530, f"command {i + 1}: {text}"
        code, text = r.cmd("CWD /")
        assert code == 421, text
        assert r.f.readline() == b""


def test_mixed_refusals_before_login_count_together(server):
    """F19: unknown verbs and 530 refusals share one count; a login before the limit works."""
    with Raw(server, timeout=10) as r:
        for i in range(5):
            assert r.cmd(f"XYZZY{i}")[0] == 500
            assert r.cmd("PWD")[0] == 530
        code, text = r.cmd("LIST")
        assert code == 421, text
        assert r.f.readline() == b""
    with Raw(server, timeout=10) as r:
        for _ in range(9):
            assert r.cmd("CWD /")[0] == 530
        r.login()
        # After login the count no longer applies.
        for _ in range(12):
            assert r.cmd("XYZZY")[0] == 500
        assert r.cmd("NOOP")[0] == 200
