"""POP3 (RFC 1939 + CAPA, STLS, AUTH PLAIN): a real pochtad serving the
Maildirs its own SMTP service filled, read with Python's poplib and with
fetchmail. Each test names the behaviour it checks."""
import base64
import os
import poplib
import subprocess
import time

import pytest

from pop3util import PASSWORD, POP3From, deliver, login, pop3_instance, tls_context


@pytest.fixture
def pop(pochta_factory):
    inst = pop3_instance(pochta_factory)
    deliver(inst, "alice@example.test", "first", "Line one.\r\n.starts with a dot\r\nLine three.\r\n")
    deliver(inst, "alice@example.test", "second")
    return inst


def test_full_session_cycle_stat_list_uidl_retr_quit(pop):
    p = login(pop)
    count, octets = p.stat()
    assert count == 2
    sizes = [int(l.split()[1]) for l in p.list()[1]]
    files = sorted(os.path.getsize(os.path.join(pop.maildir("alice@example.test"), "new", f))
                   for f in os.listdir(os.path.join(pop.maildir("alice@example.test"), "new")))
    assert sorted(sizes) == files and octets == sum(files)
    resp, lines, size = p.retr(1)
    assert resp.startswith(b"+OK")
    assert b"Subject: first" in lines
    # dot-stuffing undone by poplib: the line that starts with a dot arrives intact
    assert b".starts with a dot" in lines
    assert size >= sizes[0]
    uids = [l.split()[1] for l in p.uidl()[1]]
    assert len(set(uids)) == 2 and all(0 < len(u) <= 70 for u in uids)
    assert p.noop().startswith(b"+OK")
    assert p.quit().startswith(b"+OK")
    assert len(pop.messages("alice@example.test")) == 2  # nothing deleted


def test_capa_offers_stls_and_hides_login_until_tls(pop):
    p = POP3From("127.0.0.1", pop.pop3_port)
    caps = p.capa()
    assert "STLS" in caps and "UIDL" in caps and "TOP" in caps
    assert "USER" not in caps and "SASL" not in caps
    p.stls(context=tls_context())
    caps = p.capa()
    assert "USER" in caps and caps["SASL"] == ["PLAIN"] and "STLS" not in caps
    p.quit()


def test_plaintext_login_refused_before_stls(pop):
    p = POP3From("127.0.0.1", pop.pop3_port)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\].*STLS"):
        p.user("alice@example.test")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\].*unencrypted"):
        p._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0" + PASSWORD.encode()).decode())
    p.stls(context=tls_context())
    p.user("alice@example.test")
    assert p.pass_(PASSWORD).startswith(b"+OK")
    p.quit()


def test_cleartext_login_when_configured(pochta_factory):
    inst = pop3_instance(pochta_factory, pop3_cleartext_login="allow")
    p = POP3From("127.0.0.1", inst.pop3_port)
    p.user("alice@example.test")
    assert p.pass_(PASSWORD).startswith(b"+OK")
    p.quit()


def test_implicit_tls_port_and_auth_plain(pop):
    p = poplib.POP3_SSL("127.0.0.1", pop.pop3s_port, context=tls_context(), timeout=20)
    token = base64.b64encode(b"\0alice@example.test\0" + PASSWORD.encode()).decode()
    assert p._shortcmd("AUTH PLAIN " + token).startswith(b"+OK Logged in")
    assert p.stat()[0] == 2
    p.quit()


def test_auth_plain_with_continuation_and_wrong_password(pop):
    p = poplib.POP3_SSL("127.0.0.1", pop.pop3s_port, context=tls_context(), timeout=20)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Authentication failed"):
        p.user("alice@example.test")
        p.pass_("Wr0ng-Passw0rd-xyz")
    assert p._shortcmd("AUTH PLAIN").startswith(b"+")
    token = base64.b64encode(b"\0alice@example.test\0" + PASSWORD.encode()).decode()
    assert p._shortcmd(token).startswith(b"+OK Logged in")
    p.quit()
    assert "event=login_failed service=pop3 user=alice@example.test" in pop.read_log()
    assert "Wr0ng-Passw0rd-xyz" not in pop.read_log()  # never a password in the log


def test_uidl_stable_across_sessions(pop):
    p = login(pop)
    first = p.uidl()[1]
    p.quit()
    deliver(pop, "alice@example.test", "third")
    p = login(pop)
    second = p.uidl()[1]
    p.quit()
    assert second[:2] == first and len(second) == 3


def test_dele_then_rset_keeps_everything(pop):
    p = login(pop)
    p.dele(1)
    assert p.stat()[0] == 1
    with pytest.raises(poplib.error_proto, match="Message 1 is deleted"):
        p.retr(1)
    assert [l.split()[0] for l in p.list()[1]] == [b"2"]
    p.rset()
    assert p.stat()[0] == 2
    p.quit()
    assert len(pop.messages("alice@example.test")) == 2


def test_dele_then_quit_removes_and_keeps_uids(pop):
    p = login(pop)
    uids = [l.split()[1] for l in p.uidl()[1]]
    p.dele(1)
    assert b"1 messages deleted" in p.quit()
    assert len(pop.messages("alice@example.test")) == 1
    p = login(pop)
    assert [l.split()[1] for l in p.uidl()[1]] == uids[1:]
    p.quit()


def test_disconnect_without_quit_deletes_nothing(pop):
    p = login(pop)
    p.dele(1)
    p.close()  # connection dropped, no QUIT
    deadline = time.time() + 10
    while True:  # the server releases the lock once it has seen the EOF
        try:
            p = login(pop)
            break
        except poplib.error_proto as e:
            assert b"[IN-USE]" in e.args[0] and time.time() < deadline
            time.sleep(0.05)
    assert p.stat()[0] == 2
    p.quit()


def test_second_session_on_same_mailbox_is_refused_in_use(pop):
    a = login(pop)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        login(pop)
    b = login(pop, user="bob@example.test")  # other mailboxes are free
    b.quit()
    a.quit()
    c = login(pop)
    c.quit()


def test_top_sends_headers_and_n_body_lines(pop):
    p = login(pop)
    _, lines, _ = p.top(1, 0)
    assert b"Subject: first" in lines and lines[-1] == b"" and b"Line one." not in lines
    _, lines, _ = p.top(1, 2)
    assert lines[-2:] == [b"Line one.", b".starts with a dot"]
    p.quit()


def test_errors_name_the_problem(pop):
    p = login(pop)
    with pytest.raises(poplib.error_proto, match="No such message, only 2 messages in maildrop"):
        p.retr(3)
    with pytest.raises(poplib.error_proto, match="Syntax: TOP msg n"):
        p._shortcmd("TOP 1")
    with pytest.raises(poplib.error_proto, match="already logged in"):
        p._shortcmd("USER bob@example.test")
    p.quit()
    q = POP3From("127.0.0.1", pop.pop3_port)
    with pytest.raises(poplib.error_proto, match="needs a login first"):
        q.stat()
    q.quit()


def test_fetchmail_downloads_and_deletes(pop, tmp_path):
    out = tmp_path / "fetched.mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f'poll 127.0.0.1 service {pop.pop3_port} protocol pop3 uidl\n'
        f'  user "alice@example.test" there with password "{PASSWORD}" is "tester" here\n'
        f'  sslproto "TLS1.2+" no sslcertck fetchall nokeep\n'
        f'  mda "/bin/sh -c \'cat >> {out}\'"\n')
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nodetach", "--nosyslog"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr + pop.read_log()[-3000:]
    data = out.read_text()
    assert "Subject: first" in data and "Subject: second" in data
    assert pop.messages("alice@example.test") == []
    p = login(pop)
    assert p.stat() == (0, 0)
    p.quit()


def test_failed_logins_are_delayed_and_third_closes(pop):
    p = POP3From("127.0.0.1", pop.pop3_port, source="127.0.0.123")
    p.stls(context=tls_context())
    for _ in range(2):
        p.user("alice@example.test")
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Authentication failed"):
            p.pass_("not-the-password")
    p.user("alice@example.test")
    with pytest.raises(poplib.error_proto, match="too many failed logins, closing"):
        p.pass_("not-the-password")
    with pytest.raises((poplib.error_proto, EOFError, OSError)):
        p.noop()  # the server closed the connection
    assert pop.read_log().count("event=login_failed service=pop3 user=alice@example.test") == 3


def test_hostile_lines_answered_and_survived(pop):
    w = POP3From("127.0.0.1", pop.pop3_port)
    with pytest.raises(poplib.error_proto, match="Line too long"):
        w._shortcmd("NOOP " + "x" * 5000)
    with pytest.raises(poplib.error_proto, match="Unknown command"):
        w._shortcmd("GET / HTTP/1.0")
    with pytest.raises(poplib.error_proto, match="unencrypted"):
        w._shortcmd("AUTH PLAIN")  # refused before TLS, before any SASL exchange
    w.quit()
    p = poplib.POP3_SSL("127.0.0.1", pop.pop3s_port, context=tls_context(), timeout=20)
    for bad in ("!!!!", base64.b64encode(b"no-nul-here").decode(), base64.b64encode(b"x" * 600).decode()):
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Malformed AUTH PLAIN"):
            p._shortcmd("AUTH PLAIN " + bad)
    p.quit()
    login(pop).quit()  # still serving
