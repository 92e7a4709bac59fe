"""The submission services (587 STARTTLS, 465 implicit TLS) of a real pochtad:
AUTH PLAIN/LOGIN only under TLS, failed-login throttling, relaying only for
authenticated users and trusted networks, anti-spoofing of MAIL FROM and
From:, per-user send limits and the sending-disabled state.

Clients: Python smtplib (STARTTLS + login), swaks (--auth), and the raw Wire
for what the libraries would not send. Client addresses 127.0.0.90-99 are
this file's own range.
"""
import glob
import os
import smtplib
import ssl
import subprocess
import time

import pytest

from pochta_instance import POCHTAD
from smtpwire import Wire

PASSWORD = "secret-pass"
MSG = (b"From: alice@example.test\r\nTo: carol@remote.test\r\nSubject: hello\r\n\r\n"
       b"sent through the submission port\r\n")


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def login(inst, user="alice@example.test", password=PASSWORD, source=None):
    """An smtplib session on the STARTTLS submission port, logged in."""
    s = smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=30,
                     source_address=(source, 0) if source else None)
    s.ehlo("client.example.test")
    s.starttls(context=tls_context())
    s.ehlo("client.example.test")
    s.login(user, password)
    return s


def plain_auth(user, password):
    import base64
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def tls_wire(inst, source=None):
    """A raw session on the STARTTLS port, after STARTTLS and EHLO."""
    w = Wire(inst.submission_port, source=source)
    assert w.reply().code == 220
    w.cmd("EHLO client.example.test")
    assert w.starttls().code == 220
    ehlo = w.cmd("EHLO client.example.test")
    assert ehlo.code == 250
    return w, ehlo


def queued_files(inst):
    return glob.glob(os.path.join(inst.dir, "queue", "active", "*"))


# --- listeners, TLS and AUTH ---------------------------------------------------

def test_auth_not_offered_nor_accepted_before_tls(pochta):
    w = Wire(pochta.submission_port)
    assert w.reply().code == 220
    ehlo = w.cmd("EHLO client.example.test")
    assert "STARTTLS" in ehlo.lines and not any(l.startswith("AUTH") for l in ehlo.lines), ehlo
    r = w.cmd("AUTH PLAIN " + plain_auth("alice@example.test", PASSWORD))
    assert (r.code, r.enhanced) == (538, "5.7.11"), r
    r = w.cmd("MAIL FROM:<alice@example.test>")
    assert (r.code, r.enhanced) == (530, "5.7.0"), r


def test_mail_requires_auth_even_under_tls(pochta):
    w, ehlo = tls_wire(pochta)
    assert "AUTH PLAIN LOGIN" in ehlo.lines, ehlo
    r = w.cmd("MAIL FROM:<alice@example.test>")
    assert (r.code, r.enhanced) == (530, "5.7.0") and "Authentication required" in r.text, r


def test_port_25_refuses_auth(pochta):
    w = Wire(pochta.port)
    w.reply()
    ehlo = w.cmd("EHLO client.example.test")
    assert not any(l.startswith("AUTH") for l in ehlo.lines)
    r = w.cmd("AUTH PLAIN " + plain_auth("alice@example.test", PASSWORD))
    assert (r.code, r.enhanced) == (503, "5.5.1"), r


def test_starttls_login_relays_to_remote_and_records_the_user(pochta):
    with login(pochta) as s:
        refused = s.sendmail("alice@example.test", ["carol@remote.test", "bob@example.test"], MSG)
        assert refused == {}
    msg = pochta.wait_messages("bob@example.test", 1)[0]
    assert b"(Authenticated sender: alice@example.test)" in msg
    assert b"with ESMTPSA" in msg
    log = pochta.read_log()
    assert "event=auth result=ok mech=PLAIN user=alice@example.test" in log
    assert PASSWORD not in log and plain_auth("alice@example.test", PASSWORD) not in log
    assert "to=<carol@remote.test> result=accepted" in log


def test_implicit_tls_with_login_mechanism(pochta):
    import base64
    w = Wire(pochta.submissions_port, tls=True)
    assert w.reply().code == 220
    ehlo = w.cmd("EHLO client.example.test")
    assert "AUTH PLAIN LOGIN" in ehlo.lines and "STARTTLS" not in ehlo.lines, ehlo
    assert w.cmd("AUTH LOGIN").code == 334
    assert w.cmd(base64.b64encode(b"bob@example.test").decode()).code == 334
    r = w.cmd(base64.b64encode(PASSWORD.encode()).decode())
    assert (r.code, r.enhanced) == (235, "2.7.0"), r
    assert w.cmd("MAIL FROM:<bob@example.test>").code == 250
    assert w.cmd("RCPT TO:<dave@remote.test>").code == 250
    r = w.cmd("AUTH PLAIN " + plain_auth("bob@example.test", PASSWORD))
    assert r.code == 503, r


@pytest.mark.parametrize("tls,mech", [("--tls", "LOGIN"), ("--tls-on-connect", "PLAIN")])
def test_swaks_auth(pochta, tls, mech):
    port = pochta.submission_port if tls == "--tls" else pochta.submissions_port
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port),
                        tls, "--auth", mech, "--auth-user", "alice@example.test",
                        "--auth-password", PASSWORD, "--from", "alice@example.test",
                        "--to", "bob@example.test", "--header", "From: alice@example.test",
                        "--helo", "client.example.test"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout and "Ok: queued as" in r.stdout
    pochta.wait_messages("bob@example.test", 1)


def test_bad_responses_and_session_failure_limit(pochta):
    w, _ = tls_wire(pochta)
    r = w.cmd("AUTH CRAM-MD5")
    assert (r.code, r.enhanced) == (504, "5.5.4"), r
    r = w.cmd("AUTH PLAIN not*base64")
    assert (r.code, r.enhanced) == (501, "5.5.2"), r
    r = w.cmd("AUTH PLAIN")
    assert r.code == 334 and r.lines == [""], r
    r = w.cmd("*")  # the client cancels (RFC 4954 4): third failure in the session
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    assert w.closed()


# --- failed-login throttling -----------------------------------------------------

def auth_once(inst, user, password, source):
    """One AUTH PLAIN attempt in a fresh TLS session (smtplib would retry with LOGIN)."""
    w, _ = tls_wire(inst, source=source)
    r = w.cmd("AUTH PLAIN " + plain_auth(user, password))
    w.close()
    return r


def test_failed_logins_are_throttled_per_ip(pochta_factory):
    p = pochta_factory(auth_fail_max_ip="3", auth_fail_max_user="100")
    for _ in range(3):
        r = auth_once(p, "alice@example.test", "wrong-guess", "127.0.0.91")
        assert (r.code, r.enhanced) == (535, "5.7.8"), r
    # now even the right password is not checked from that address
    r = auth_once(p, "alice@example.test", PASSWORD, "127.0.0.91")
    assert (r.code, r.enhanced) == (454, "4.7.0") and "127.0.0.91" in r.text and "try again in" in r.text, r
    # another address is not affected
    login(p, source="127.0.0.92").quit()
    log = p.read_log()
    assert "event=auth result=throttled scope=ip client=127.0.0.91" in log
    assert "event=auth result=fail mech=PLAIN user=alice@example.test client=127.0.0.91" in log
    assert "wrong-guess" not in log


def test_failed_logins_are_throttled_per_account(pochta_factory):
    p = pochta_factory(auth_fail_max_ip="100", auth_fail_max_user="2")
    for src in ("127.0.0.93", "127.0.0.94"):
        r = auth_once(p, "bob@example.test", "guess", src)
        assert r.code == 535, r
    r = auth_once(p, "bob@example.test", PASSWORD, "127.0.0.95")
    assert (r.code, r.enhanced) == (454, "4.7.0") and "this account" in r.text, r
    login(p, user="alice@example.test", source="127.0.0.95").quit()


# --- relay rules -------------------------------------------------------------------

RELAY_TRICKS = [
    "carol%remote.test@example.test",
    "remote.test!carol@example.test",
    "@example.test:carol@remote.test",
    '"carol@remote.test"@example.test',
    "carol@remote.test@example.test",
    "carol@[127.0.0.10]",
    "alice@[127.0.0.1]",
    "carol@REMOTE.TEST",
    "alice@example.test.",
    "carol@remote.test.",
    "carol%remote.test@EXAMPLE.TEST",
    "carol%remote.test@example.test.",
    "@EXAMPLE.TEST,@example.test:carol@remote.test",
    "carol@[IPv6:::1]",
    '"carol%remote.test"@Example.Test',
]


@pytest.mark.parametrize("rcpt", RELAY_TRICKS)
def test_relay_tricks_refused_without_auth(pochta, rcpt):
    for port in (pochta.port, pochta.submission_port):
        w = Wire(port, source="127.0.0.96")
        w.reply()
        w.cmd("EHLO client.example.test")
        mail = w.cmd("MAIL FROM:<someone@remote.test>")
        if port == pochta.submission_port:
            assert mail.code == 530, mail  # no transaction at all without AUTH
            continue
        assert mail.code == 250, mail
        r = w.cmd(f"RCPT TO:<{rcpt}>")
        assert 500 <= r.code < 600 and r.enhanced.startswith("5."), (rcpt, r)
        w.close()


def test_trusted_networks_may_relay(pochta_factory):
    p = pochta_factory(trusted_networks="127.0.0.97/32, ::1")
    for src, want in (("127.0.0.97", 250), ("127.0.0.98", 554)):
        w = Wire(p.port, source=src)
        w.reply()
        w.cmd("EHLO client.example.test")
        assert w.cmd("MAIL FROM:<app@example.test>").code == 250
        r = w.cmd("RCPT TO:<carol@remote.test>")
        assert r.code == want, (src, r)
        w.close()


def test_bad_trusted_networks_is_a_config_error(pochta_factory):
    p = pochta_factory(start=False)
    p.set("trusted_networks", "127.0.0.0/33")
    r = p.cli_raw([POCHTAD, "-c", p.conf, "-n"], check=False)
    assert r.returncode == 2 and "trusted_networks" in r.stderr and "127.0.0.0/33" in r.stderr, r


# --- anti-spoofing -------------------------------------------------------------------

def test_mail_from_must_be_owned(pochta):
    with login(pochta) as s:
        code, text = s.mail("bob@example.test")
        assert code == 553 and text.startswith(b"5.7.1 Sender address rejected: not owned by user"), text
        s.rset()
        assert s.mail("postmaster@example.test")[0] == 250  # alias of alice
        s.rset()
        assert s.mail("team@example.test")[0] == 250  # alias that reaches alice
        s.rset()
        assert s.mail("ALICE@Example.Test")[0] == 250


def test_from_header_must_match(pochta):
    with login(pochta) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("alice@example.test", ["bob@example.test"],
                       b"From: Bob <bob@example.test>\r\nSubject: spoof\r\n\r\nhi\r\n")
        assert e.value.smtp_code == 550
        assert e.value.smtp_error.startswith(b"5.7.1 From: header must match the authenticated user")
        with pytest.raises(smtplib.SMTPDataError) as e:  # one good and one foreign address
            s.sendmail("alice@example.test", ["bob@example.test"],
                       b"From: \"Alice, A.\" <alice@example.test>, bob@example.test\r\n\r\nhi\r\n")
        assert e.value.smtp_code == 550
        s.sendmail("alice@example.test", ["bob@example.test"],
                   b"From: \"Alice (work)\" <Alice@EXAMPLE.test> (me)\r\nSubject: ok\r\n\r\nhi\r\n")
    pochta.wait_messages("bob@example.test", 1)


def test_extra_identity_through_the_cli(pochta):
    with login(pochta) as s:
        assert s.mail("sales@example.test")[0] == 553
    pochta.cli("user", "identity", "add", "alice@example.test", "sales@example.test")
    pochta.cli("user", "identity", "add", "alice@example.test", "@good.sender.test")
    listed = pochta.cli("user", "identity", "list", "alice@example.test").stdout
    assert "sales@example.test" in listed and "@good.sender.test" in listed
    with login(pochta) as s:
        s.sendmail("sales@example.test", ["bob@example.test"],
                   b"From: Sales <sales@example.test>\r\n\r\nan offer\r\n")
        s.sendmail("news@good.sender.test", ["bob@example.test"],
                   b"From: news@good.sender.test\r\n\r\nnews\r\n")
    with login(pochta, user="bob@example.test") as s:  # identities are per user
        assert s.mail("sales@example.test")[0] == 553
    pochta.wait_messages("bob@example.test", 2)


# --- limits and account states ---------------------------------------------------------

def test_daily_send_limit(pochta_factory):
    p = pochta_factory(send_limit_per_day="2")
    with login(p) as s:
        for _ in range(2):
            s.sendmail("alice@example.test", ["bob@example.test"], b"From: alice@example.test\r\n\r\nx\r\n")
    p.wait_messages("bob@example.test", 2)
    deadline = time.time() + 10  # counts are written by a worker after the 250
    while "2 sent" not in p.cli("user", "sending", "show", "alice@example.test").stdout:
        assert time.time() < deadline
        time.sleep(0.05)
    with login(p) as s:
        code, text = s.mail("alice@example.test")
        assert code == 451 and text.startswith(b"4.7.1 Daily sending limit of 2 messages"), text
        assert b"try again after" in text
    with login(p, user="bob@example.test") as s:  # the limit is per user
        assert s.mail("bob@example.test")[0] == 250
    p.cli("user", "sending", "limit", "alice@example.test", "5")
    with login(p) as s:
        assert s.mail("alice@example.test")[0] == 250


def test_sending_disabled(pochta):
    out = pochta.cli("user", "sending", "disable", "bob@example.test").stdout
    assert "disabled" in out
    with login(pochta, user="bob@example.test") as s:
        code, text = s.mail("bob@example.test")
        assert code == 550 and text.startswith(b"5.7.1 message sending for this account is disabled"), text
    assert "DISABLED" in pochta.cli("user", "sending", "show", "bob@example.test").stdout
    pochta.cli("user", "sending", "enable", "bob@example.test")
    with login(pochta, user="bob@example.test") as s:
        assert s.mail("bob@example.test")[0] == 250
    r = pochta.cli("user", "sending", "disable", "nobody@example.test", check=False)
    assert r.returncode == 1 and "no such mailbox" in r.stderr


def test_recipient_and_size_limits(pochta_factory):
    p = pochta_factory(max_recipients="2", max_message_size="2k")
    with login(p) as s:
        code, text = s.mail("alice@example.test", ["SIZE=999999"])
        assert code == 552 and text.startswith(b"5.3.4"), text
        s.rset()
        assert s.mail("alice@example.test")[0] == 250
        assert s.rcpt("a@remote.test")[0] == 250
        assert s.rcpt("b@remote.test")[0] == 250
        code, text = s.rcpt("c@remote.test")
        assert code == 452 and text.startswith(b"4.5.3"), text
