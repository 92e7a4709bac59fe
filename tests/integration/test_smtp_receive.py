"""Receiving mail: real pochtad, real NSD, real clients (smtplib, swaks, raw
socket). Each test names the behaviour it checks."""
import smtplib
import ssl
import subprocess
import time

import pytest

from smtpwire import Wire

MSG = "From: Carol <carol@good.sender.test>\r\nTo: alice@example.test\r\nSubject: {subject}\r\n" \
      "Message-ID: <{subject}@good.sender.test>\r\n\r\nHello {subject}.\r\n"


def send(pochta, rcpts, subject="hello", sender="carol@good.sender.test", **kw):
    with smtplib.SMTP("127.0.0.1", pochta.port, timeout=30, **kw) as s:
        s.ehlo("good.sender.test")
        return s.sendmail(sender, rcpts, MSG.format(subject=subject))


def test_delivers_to_user_maildir_with_trace_headers(pochta):
    send(pochta, ["alice@example.test"], subject="plain")
    [msg] = pochta.wait_messages("alice@example.test", 1)
    head = msg.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("Return-Path: <carol@good.sender.test>")
    assert "Delivered-To: alice@example.test" in head
    assert "Received: from good.sender.test (mx.example.test [127.0.0.1])" in head
    assert "by mx.example.test (pochta) with ESMTP id " in head
    assert b"Hello plain." in msg


def test_received_header_names_forward_confirmed_client(pochta):
    with smtplib.SMTP("127.0.0.1", pochta.port, timeout=30, source_address=("127.0.0.2", 0)) as s:
        s.sendmail("carol@good.sender.test", ["alice@example.test"], MSG.format(subject="fcrdns"))
    with smtplib.SMTP("127.0.0.1", pochta.port, timeout=30, source_address=("127.0.0.3", 0)) as s:
        s.sendmail("carol@good.sender.test", ["bob@example.test"], MSG.format(subject="nomatch"))
    [a] = pochta.wait_messages("alice@example.test", 1)
    [b] = pochta.wait_messages("bob@example.test", 1)
    assert b"(good.sender.test [127.0.0.2])" in a
    # 127.0.0.3's PTR name does not resolve back to it: not trusted.
    assert b"(unknown [127.0.0.3])" in b


def test_starttls_with_swaks_records_tls_in_received(pochta):
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{pochta.port}", "--tls", "--to",
                        "bob@example.test", "--from", "carol@good.sender.test", "--helo", "good.sender.test",
                        "--header", "Subject: over tls"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    [msg] = pochta.wait_messages("bob@example.test", 1)
    assert b"with ESMTPS id" in msg
    assert b"(using TLSv1.3 with cipher" in msg


def test_starttls_with_smtplib_then_deliver(pochta):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", pochta.port, timeout=30) as s:
        s.ehlo("good.sender.test")
        assert s.has_extn("starttls")
        s.starttls(context=ctx)
        s.ehlo("good.sender.test")
        assert not s.has_extn("starttls")
        s.sendmail("carol@good.sender.test", ["alice@example.test"], MSG.format(subject="tls"))
    pochta.wait_messages("alice@example.test", 1)


def test_alias_expands_to_every_target_once(pochta):
    send(pochta, ["team@example.test", "alice@example.test"], subject="team")
    [a] = pochta.wait_messages("alice@example.test", 1)
    [b] = pochta.wait_messages("bob@example.test", 1)
    assert b"Hello team." in a and b"Hello team." in b
    time.sleep(0.5)
    assert len(pochta.messages("alice@example.test")) == 1


def test_postmaster_alias_and_bare_postmaster(pochta):
    w = Wire(pochta.port)
    assert w.reply().code == 220
    assert w.cmd("EHLO good.sender.test").code == 250
    assert w.cmd("MAIL FROM:<carol@good.sender.test>").code == 250
    r = w.cmd("RCPT TO:<Postmaster>")
    assert r.code == 250, r
    assert w.cmd("DATA").code == 354
    w.send("Subject: pm\r\n\r\nto postmaster\r\n.\r\n")
    assert w.reply().code == 250
    w.cmd("QUIT")
    pochta.wait_messages("alice@example.test", 1)


def test_relay_is_denied_with_554_571(pochta):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        send(pochta, ["someone@remote.test"])
    code, text = e.value.recipients["someone@remote.test"]
    assert code == 554
    assert text.decode().startswith("5.7.1 <someone@remote.test>: Relay access denied")


def test_unknown_local_user_refused_at_rcpt_with_550_511(pochta):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        send(pochta, ["nobody@example.test"])
    code, text = e.value.recipients["nobody@example.test"]
    assert code == 550 and text.decode().startswith("5.1.1 <nobody@example.test>")


def test_account_changes_apply_without_restart(pochta):
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(pochta, ["dave@example.test"])
    pochta.add_user("dave@example.test")
    send(pochta, ["dave@example.test"], subject="dave")
    pochta.wait_messages("dave@example.test", 1)


def test_size_limit_declared_and_actual(pochta_factory):
    pochta = pochta_factory(max_message_size="50k")
    w = Wire(pochta.port)
    w.reply()
    ehlo = w.cmd("EHLO good.sender.test")
    assert "SIZE 51200" in ehlo.lines
    r = w.cmd("MAIL FROM:<carol@good.sender.test> SIZE=60000")
    assert (r.code, r.enhanced) == (552, "5.3.4"), r
    assert w.cmd("MAIL FROM:<carol@good.sender.test>").code == 250
    assert w.cmd("RCPT TO:<alice@example.test>").code == 250
    assert w.cmd("DATA").code == 354
    w.send("Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 1000 + ".\r\n")
    r = w.reply()
    assert (r.code, r.enhanced) == (552, "5.3.4"), r
    assert w.cmd("NOOP").code == 250  # the session goes on
    time.sleep(0.3)
    assert pochta.messages("alice@example.test") == []


def test_too_many_recipients_452_453(pochta_factory):
    pochta = pochta_factory(max_recipients="5")
    w = Wire(pochta.port)
    w.reply()
    w.cmd("EHLO good.sender.test")
    w.cmd("MAIL FROM:<carol@good.sender.test>")
    for _ in range(5):
        assert w.cmd("RCPT TO:<alice@example.test>").code == 250
    r = w.cmd("RCPT TO:<bob@example.test>")
    assert (r.code, r.enhanced) == (452, "4.5.3"), r


def test_bare_lf_in_data_refused_and_connection_closed(pochta):
    w = Wire(pochta.port)
    w.reply()
    w.cmd("EHLO good.sender.test")
    w.cmd("MAIL FROM:<carol@good.sender.test>")
    w.cmd("RCPT TO:<alice@example.test>")
    assert w.cmd("DATA").code == 354
    w.send("Subject: bare\r\n\r\nline one\nline two\r\n.\r\n")
    r = w.reply()
    assert (r.code, r.enhanced) == (521, "5.5.2"), r
    assert w.closed()
    time.sleep(0.3)
    assert pochta.messages("alice@example.test") == []


@pytest.mark.parametrize("terminator", [b"\r\n.\n", b"\n.\r\n", b"\r\n.\r", b"\r.\r\n"])
def test_smtp_smuggling_payloads_never_split_a_message(pochta, terminator):
    w = Wire(pochta.port)
    w.reply()
    w.cmd("EHLO good.sender.test")
    w.cmd("MAIL FROM:<carol@good.sender.test>")
    w.cmd("RCPT TO:<alice@example.test>")
    assert w.cmd("DATA").code == 354
    smuggled = (b"Subject: outer\r\n\r\nouter body" + terminator +
                b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
    w.send(smuggled)
    r = w.reply()
    assert r.code == 521, r
    time.sleep(0.5)
    assert pochta.messages("bob@example.test") == []
    assert pochta.messages("alice@example.test") == []


def test_pipelined_transaction_answers_in_order(pochta):
    w = Wire(pochta.port)
    w.reply()
    assert "PIPELINING" in w.cmd("EHLO good.sender.test").lines
    w.send("MAIL FROM:<carol@good.sender.test>\r\nRCPT TO:<alice@example.test>\r\n"
           "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
    codes = [w.reply().code for _ in range(5)]
    assert codes == [250, 250, 550, 250, 354]
    w.send("Subject: piped\r\n\r\nbody\r\n.\r\nMAIL FROM:<carol@good.sender.test>\r\n"
           "RCPT TO:<bob@example.test>\r\nDATA\r\n")
    assert [w.reply().code for _ in range(4)] == [250, 250, 250, 354]
    w.send("Subject: second\r\n\r\nagain\r\n.\r\nQUIT\r\n")
    assert [w.reply().code for _ in range(2)] == [250, 221]
    pochta.wait_messages("alice@example.test", 1)
    pochta.wait_messages("bob@example.test", 2)


def test_bdat_chunks_deliver_exact_bytes(pochta):
    w = Wire(pochta.port)
    w.reply()
    assert "CHUNKING" in w.cmd("EHLO good.sender.test").lines
    w.cmd("MAIL FROM:<carol@good.sender.test>")
    w.cmd("RCPT TO:<alice@example.test>")
    part1 = b"Subject: chunks\r\n\r\n.leading dot stays\r\n"
    part2 = b"second chunk\r\n"
    w.send(b"BDAT %d\r\n" % len(part1) + part1)
    r = w.reply()
    assert r.code == 250 and f"{len(part1)} octets" in r.text
    w.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    r = w.reply()
    assert r.code == 250 and "queued as" in r.text
    [msg] = pochta.wait_messages("alice@example.test", 1)
    assert msg.endswith(part1 + part2)


def test_bdat_without_recipients_consumes_chunk(pochta):
    w = Wire(pochta.port)
    w.reply()
    w.cmd("EHLO good.sender.test")
    chunk = b"NOOP\r\nQUIT\r\n"  # must be read as data, not as commands
    w.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    r = w.reply()
    assert (r.code, r.enhanced) == (503, "5.5.1"), r
    assert w.cmd("NOOP").code == 250


def test_early_talker_is_refused(pochta_factory):
    pochta = pochta_factory(greet_pause_ms="700")
    w = Wire(pochta.port)
    w.send("EHLO impatient.test\r\n")
    r = w.reply()
    assert (r.code, r.enhanced) == (554, "5.5.1"), r
    assert w.closed()
    # a patient client is served
    w2 = Wire(pochta.port)
    assert w2.reply().code == 220


def test_overlong_command_line_and_text_line(pochta):
    w = Wire(pochta.port)
    w.reply()
    r = w.cmd("EHLO " + "a" * 600)
    assert (r.code, r.enhanced) == (500, "5.5.2"), r
    assert w.cmd("EHLO good.sender.test").code == 250
    w.cmd("MAIL FROM:<carol@good.sender.test>")
    w.cmd("RCPT TO:<alice@example.test>")
    w.cmd("DATA")
    w.send("Subject: long\r\n\r\n" + "y" * 1200 + "\r\n.\r\n")
    r = w.reply()
    assert (r.code, r.enhanced) == (550, "5.6.0"), r


def test_too_many_errors_closes_with_421(pochta_factory):
    pochta = pochta_factory(max_errors="3")
    w = Wire(pochta.port)
    w.reply()
    assert w.cmd("BOGUS").code == 500
    assert w.cmd("BOGUS").code == 500
    r = w.cmd("BOGUS")
    assert r.code == 500
    r = w.reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    assert w.closed()


def test_per_ip_connection_limit(pochta_factory):
    pochta = pochta_factory(max_conn_per_ip="3")
    # 127.0.0.5 so that the harness's own readiness probe from 127.0.0.1 is not counted
    held = [Wire(pochta.port, source="127.0.0.5") for _ in range(3)]
    for w in held:
        assert w.reply().code == 220
    extra = Wire(pochta.port, source="127.0.0.5")
    r = extra.reply()
    assert (r.code, r.enhanced) == (421, "4.7.0") and "Too many connections from 127.0.0.5" in r.text
    other = Wire(pochta.port, source="127.0.0.2")  # another address is still served
    assert other.reply().code == 220


def test_idle_timeout_421(pochta_factory):
    pochta = pochta_factory(idle_timeout="2s")
    w = Wire(pochta.port)
    w.reply()
    r = w.reply()  # say nothing: the server gives up
    assert (r.code, r.enhanced) == (421, "4.4.2"), r


def test_every_reply_has_enhanced_code(pochta):
    w = Wire(pochta.port)
    w.reply()
    w.cmd("EHLO good.sender.test")
    for line in ["NOOP", "HELP", "VRFY alice", "EXPN team", "MAIL FROM:<bad", "RCPT TO:<x@y.test>",
                 "DATA", "MAIL FROM:<carol@good.sender.test> FOO=BAR", "AUTH PLAIN", "RSET", "FOOBAR"]:
        r = w.cmd(line)
        assert r.enhanced, f"{line}: {r}"


def test_message_log_tells_the_story(pochta):
    with smtplib.SMTP("127.0.0.1", pochta.port, timeout=30) as s:
        s.ehlo("good.sender.test")
        s.mail("carol@good.sender.test")
        s.rcpt("alice@example.test")
        s.rcpt("ghost@example.test")
        code, text = s.data(MSG.format(subject="story"))
    qid = text.decode().split()[-1]
    pochta.wait_messages("alice@example.test", 1)
    deadline = time.time() + 10
    while time.time() < deadline:
        out = pochta.cli("log", qid, check=False).stdout
        if "delivered" in out:
            break
        time.sleep(0.2)
    assert qid in out
    for want in ("mail", "rcpt", "to=<ghost@example.test>", "result=refused", "queued", "delivered",
                 "to=<alice@example.test>"):
        assert want in out, f"{want!r} missing from:\n{out}"


def test_config_check_prints_settings_and_bad_config_names_line(pochta_factory):
    pochta = pochta_factory(start=False)
    r = subprocess.run([pochta_instance_bin(), "-c", pochta.conf, "-n"], capture_output=True, text=True)
    assert r.returncode == 0 and "hostname = mx.example.test" in r.stdout
    with open(pochta.conf, "a") as f:
        f.write("smtp_lisen = 1.2.3.4:25\n")
    r = subprocess.run([pochta_instance_bin(), "-c", pochta.conf, "-n"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "pochta.conf:" in r.stderr and "smtp_lisen" in r.stderr


def pochta_instance_bin():
    from pochta_instance import POCHTAD
    return POCHTAD
