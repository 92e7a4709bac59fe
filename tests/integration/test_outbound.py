"""Outbound delivery: pochta forwards mail (alias to a remote address) to a real
aiosmtpd peer found through MX records served by the test NSD.

Peer: aiosmtpd on 127.0.0.100 with STARTTLS (a throw-away self-signed cert);
127.0.0.101 (dead.outbound.test) has nothing listening on the same port.
Local parts choose the peer's answer at RCPT: perm* -> 550 5.1.1,
temp* -> 451 4.3.0 the first time, then accepted; slow* -> always 451 4.7.1.
127.0.0.103 (pipelined.outbound.test) is a raw peer offering PIPELINING that
records how the commands arrived (PipeliningPeer).
"""
import os
import re
import smtplib
import time

import pytest

from pochta_instance import free_port
from smtppeer import ScriptedRcpt, start_peer

PEER_IP = "127.0.0.100"


class PeerHandler(ScriptedRcpt):
    RCPT_SCRIPT = (
        ("perm", "550 5.1.1 <%s>: Recipient address rejected: User unknown in peer table", False),
        ("slow", "451 4.7.1 <%s>: greylisted by the peer, try again much later", False),
        ("temp", "451 4.3.0 <%s>: temporary trouble at the peer, try again", True),
    )

    def __init__(self):
        super().__init__()
        self.messages = []   # (mail_from, rcpt_tos, content bytes, tls used)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                              session.ssl is not None))
        return "250 2.0.0 Ok: queued as PEERQ%d" % len(self.messages)


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    handler = PeerHandler()
    port = free_port(PEER_IP)
    ctl = start_peer(handler, PEER_IP, port, "peer.outbound.test", tls_dir=tmp_path_factory.mktemp("peer"))
    handler.port = port
    # the same port on 127.0.0.102: clear text only, no SMTPUTF8 (a plain old server)
    handler.plain = PeerHandler()
    ctl2 = start_peer(handler.plain, "127.0.0.102", port, "plain.outbound.test", enable_SMTPUTF8=False)
    yield handler
    ctl2.stop()
    ctl.stop()


@pytest.fixture
def sender(pochta_factory, peer):
    inst = pochta_factory(remote_smtp_port=str(peer.port), retry_min="1s", retry_max="2s",
                          remote_timeout="10s")
    return inst


def submit(inst, alias, target):
    """Make alias@example.test forward to target and send one message to it on port 25; the queue ID."""
    inst.cli("alias", "add", alias, target)
    subject = "outbound test to " + target
    body = f"From: carol@good.sender.test\r\nTo: {alias}\r\nSubject: {subject}\r\n\r\nhello there\r\n.leading dot\r\n"
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("good.sender.test")
        s.mail("carol@good.sender.test")
        code, _ = s.rcpt(alias)
        assert code == 250
        code, msg = s.data(body.encode())
        assert code == 250, msg
    m = re.search(rb"queued as ([0-9A-F]{16})", msg)
    assert m, msg
    return m.group(1).decode(), subject




def peer_got(peer, subject):
    return [m for m in peer.messages if subject.encode() in m[2]]


def test_delivers_over_starttls_and_logs_the_reply(sender, peer):
    qid, subject = submit(sender, "fwd1@example.test", "alice@ok.outbound.test")
    log = sender.wait_log(qid, r"event=removed|removed")
    got = peer_got(peer, subject)
    assert len(got) == 1
    mail_from, rcpts, content, tls = got[0]
    assert mail_from == "carol@good.sender.test" and rcpts == ["alice@ok.outbound.test"]
    assert tls, "STARTTLS was offered but not used"
    assert b"\r\n.leading dot\r\n" in content.replace(b"\n", b"\r\n").replace(b"\r\r", b"\r")
    assert "host=peer.outbound.test ip=127.0.0.100" in log
    assert re.search(r"tls=TLSv1\.[23]", log)
    assert "delivered" in log and "queued as PEERQ" in log


def test_mx_preference_fallback_and_implicit_mx(sender, peer):
    qid, subject = submit(sender, "fwd2@example.test", "bob@fb.outbound.test")
    log = sender.wait_log(qid, r"removed")
    assert len(peer_got(peer, subject)) == 1
    # the preferred MX (pref 5, nothing listening) was tried first, then pref 20
    assert log.index("ip=127.0.0.101") < log.index("ip=127.0.0.100")
    qid2, subject2 = submit(sender, "fwd3@example.test", "bob@implicit.outbound.test")
    sender.wait_log(qid2, r"removed")
    assert len(peer_got(peer, subject2)) == 1


def test_4xx_is_retried_then_delivered(sender, peer):
    qid, subject = submit(sender, "fwd4@example.test", "temp1@ok.outbound.test")
    log = sender.wait_log(qid, r"removed")
    assert "deferred" in log and "451 4.3.0" in log
    assert log.index("deferred") < log.index("delivered")
    assert len(peer_got(peer, subject)) == 1


def test_5xx_bounces_with_remote_reply(sender, peer):
    qid, subject = submit(sender, "fwd5@example.test", "perm1@ok.outbound.test")
    log = sender.wait_log(qid, r"removed")
    assert re.search(r"bounced .*status=5\.1\.1", log)
    assert "User unknown in peer table" in log and "after RCPT TO" in log
    assert peer_got(peer, subject) == []


def test_null_mx_bounces_at_once(sender, peer):
    qid, _ = submit(sender, "fwd6@example.test", "x@nullmx.outbound.test")
    log = sender.wait_log(qid, r"removed")
    assert re.search(r"bounced .*status=5\.1\.10", log)
    assert "null MX" in log
    assert "deferred" not in log


def test_5xx_dsn_reaches_local_sender_and_parses(sender, peer):
    """bob@example.test (local) forwards through an alias to an address the peer refuses: the
    DSN lands in bob's Maildir as multipart/report that Python's email package parses."""
    import email
    from email import policy as email_policy
    sender.cli("alias", "add", "fwd7@example.test", "perm2@ok.outbound.test")
    with smtplib.SMTP("127.0.0.1", sender.port, timeout=10) as s:
        s.ehlo("mx.example.test")
        s.sendmail("bob@example.test", ["fwd7@example.test"],
                   b"From: bob@example.test\r\nTo: fwd7@example.test\r\nSubject: will bounce\r\n\r\nhi\r\n")
    msgs = sender.wait_messages("bob@example.test", 1)
    raw = msgs[0]
    msg = email.message_from_bytes(raw, policy=email_policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Return-Path"].strip() == "<>"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status",
                                                     "text/rfc822-headers"]
    text = parts[0].get_content()
    assert "perm2@ok.outbound.test" in text and "peer.outbound.test[127.0.0.100]" in text
    assert "User unknown in peer table" in text and "after RCPT TO" in text
    ds = parts[1].get_payload()   # list of Message blocks: per-message, then per-recipient
    assert ds[0]["Reporting-MTA"] == "dns; mx.example.test"
    rcpt = ds[1]
    assert rcpt["Final-Recipient"] == "rfc822; perm2@ok.outbound.test"
    assert rcpt["Original-Recipient"] == "rfc822; fwd7@example.test"
    assert rcpt["Action"] == "failed" and rcpt["Status"] == "5.1.1"
    assert rcpt["Remote-MTA"] == "dns; peer.outbound.test"
    assert "550 5.1.1" in rcpt["Diagnostic-Code"]
    assert "Subject: will bounce" in parts[2].get_payload()


def test_smtputf8_message_to_server_without_it_bounces(sender, peer):
    sender.cli("alias", "add", "fwd8@example.test", "u1@notls.outbound.test")
    with smtplib.SMTP("127.0.0.1", sender.port, timeout=10) as s:
        s.ehlo("good.sender.test")
        s.mail("карол@good.sender.test", ["SMTPUTF8"])
        s.rcpt("fwd8@example.test")
        code, msg = s.data("From: карол@good.sender.test\r\nSubject: utf8\r\n\r\nпривет\r\n".encode())
    assert code == 250
    qid = re.search(rb"queued as ([0-9A-F]{16})", msg).group(1).decode()
    log = sender.wait_log(qid, r"removed")
    assert re.search(r"bounced .*status=5\.6\.7", log) and "SMTPUTF8" in log
    assert not [m for m in peer.plain.messages if b"utf8" in m[2]]


def test_server_without_starttls_gets_mail_in_clear(sender, peer):
    qid, subject = submit(sender, "fwd9@example.test", "carl@notls.outbound.test")
    log = sender.wait_log(qid, r"removed")
    got = [m for m in peer.plain.messages if subject.encode() in m[2]]
    assert len(got) == 1 and got[0][3] is False
    assert "ip=127.0.0.102" in log and "tls=no" in log


def test_mail_of_our_domain_is_dkim_signed(sender, peer):
    """A key made by `pochta dkim keygen --out STATE/dkim` signs mail from example.test;
    python3-dkim verifies what the peer received against the record keygen printed."""
    import dkim
    os.makedirs(os.path.join(sender.dir, "dkim"), exist_ok=True)
    out = sender.cli("dkim", "keygen", "example.test", "--out", os.path.join(sender.dir, "dkim")).stdout
    record = "".join(re.findall(r'"([^"]*)"', out)).encode()
    assert record.startswith(b"v=DKIM1")
    sender.cli("alias", "add", "fwd10@example.test", "dk@ok.outbound.test")
    with smtplib.SMTP("127.0.0.1", sender.port, timeout=10) as s:
        s.ehlo("mx.example.test")
        s.sendmail("bob@example.test", ["fwd10@example.test"],
                   b"From: bob@example.test\r\nTo: fwd10@example.test\r\nSubject: signed one\r\n\r\nbody\r\n")
    deadline = time.time() + 20
    while time.time() < deadline and not peer_got(peer, "signed one"):
        time.sleep(0.1)
    got = peer_got(peer, "signed one")
    assert len(got) == 1
    content = got[0][2]
    assert content.startswith(b"DKIM-Signature:")
    assert b"d=example.test" in content and b"s=pochta" in content

    def dnsfunc(name, timeout=5):
        assert name in (b"pochta._domainkey.example.test.", "pochta._domainkey.example.test.")
        return record
    assert dkim.verify(content, dnsfunc=dnsfunc)


def test_forwarded_mail_of_other_domains_is_not_signed(sender, peer):
    os.makedirs(os.path.join(sender.dir, "dkim"), exist_ok=True)
    sender.cli("dkim", "keygen", "example.test", "--out", os.path.join(sender.dir, "dkim"))
    qid, subject = submit(sender, "fwd11@example.test", "ns@ok.outbound.test")
    sender.wait_log(qid, r"removed")
    got = peer_got(peer, subject)
    assert len(got) == 1 and b"DKIM-Signature" not in got[0][2]


def test_delay_warning_dsn_once(pochta_factory, peer):
    """delay_warning = 1s: a recipient still deferred after it gets one "delayed" DSN
    (Action: delayed) while the message stays queued."""
    import email
    from email import policy as email_policy
    inst = pochta_factory(remote_smtp_port=str(peer.port), retry_min="1s", retry_max="1s",
                          remote_timeout="10s", delay_warning="1s")
    inst.cli("alias", "add", "fwd12@example.test", "slow1@ok.outbound.test")
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("mx.example.test")
        s.mail("bob@example.test")
        s.rcpt("fwd12@example.test")
        _, reply = s.data(b"From: bob@example.test\r\nTo: fwd12@example.test\r\nSubject: slow one\r\n\r\nhi\r\n")
    qid = re.search(rb"queued as ([0-9A-F]{16})", reply).group(1).decode()
    raw = inst.wait_messages("bob@example.test", 1)[0]
    msg = email.message_from_bytes(raw, policy=email_policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert "Delayed" in msg["Subject"]
    rcpt = list(msg.iter_parts())[1].get_payload()[1]
    assert rcpt["Action"] == "delayed" and rcpt["Status"] == "4.4.7"
    assert "greylisted by the peer" in rcpt["Diagnostic-Code"]
    # later retries (one a second) do not warn again
    inst.wait_log(qid, r"(?s)(deferred.*){4}")
    assert len(inst.messages("bob@example.test")) == 1
    assert inst.cli("log", qid).stdout.count("action=delayed") == 1


def test_null_sender_is_never_bounced(sender, peer):
    sender.cli("alias", "add", "fwd13@example.test", "perm3@ok.outbound.test")
    with smtplib.SMTP("127.0.0.1", sender.port, timeout=10) as s:
        s.ehlo("good.sender.test")
        s.mail("<>")
        s.rcpt("fwd13@example.test")
        _, reply = s.data(b"From: MAILER-DAEMON@good.sender.test\r\nSubject: a bounce\r\n\r\nx\r\n")
    qid = re.search(rb"queued as ([0-9A-F]{16})", reply).group(1).decode()
    log = sender.wait_log(qid, r"removed")
    assert re.search(r"bounced .*status=5\.1\.1", log)
    assert " dsn " not in log


class RawPeer:
    """A raw SMTP peer on ip:port, for what aiosmtpd will not do. By default it
    offers PIPELINING and records, per session, the bytes of each recv() after
    EHLO, so a test can see whether MAIL, RCPT and DATA came in one write (RFC
    2920). Recipients whose local part starts with a word of RCPT_REFUSALS get
    its reply at RCPT, yet 354 at DATA, as a broken server might answer; the
    client must then send a lone dot. greeting= replaces the 220 greeting (a refusing host);
    broken_tls=True offers STARTTLS, says 220 to it, then sends bytes that are
    no TLS record and hangs up, as a server with a broken TLS setup does."""

    RCPT_REFUSALS = (
        (b"<refuse", b"550 5.1.1 no such user here\r\n"),
        # continued, as large providers answer
        (b"<multi", b"550-5.7.26 This mail is unauthenticated, which poses a risk\r\n"
                    b"550-5.7.26 to the sender and the recipients.\r\n"
                    b"550 5.7.26 Publish SPF and DKIM records.\r\n"),
        # the enhanced code's class disagrees with the reply code's
        (b"<mismatch", b"552 4.2.2 mailbox full for good\r\n"),
    )

    def __init__(self, ip, port, greeting=b"220 raw.outbound.test ESMTP\r\n", broken_tls=False):
        import socket
        import threading
        self.greeting, self.broken_tls = greeting, broken_tls
        self.chunks, self.messages = [], []
        self.lone_dots = 0   # DATA sessions ended with nothing but the final dot
        self.sessions = self.tls_attempts = 0
        self.sock = socket.create_server((ip, port))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import socket
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.sessions += 1
            with conn:
                conn.settimeout(10)
                try:
                    self.session(conn)
                except OSError:
                    pass

    def ehlo_reply(self):
        return b"250-raw.outbound.test\r\n" + (b"250-STARTTLS\r\n" if self.broken_tls else b"") + \
            b"250-PIPELINING\r\n250 8BITMIME\r\n"

    def session(self, conn):
        conn.sendall(self.greeting)
        buf, in_data, body = b"", False, b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            if not in_data:
                self.chunks.append(data)
            buf += data
            while True:
                if in_data:
                    end = buf.find(b"\r\n.\r\n")
                    lone = buf.startswith(b".\r\n")
                    if end < 0 and not lone:
                        break
                    body, buf = (b"", buf[3:]) if lone else (buf[:end + 2], buf[end + 5:])
                    in_data = False
                    if lone:
                        self.lone_dots += 1
                    else:
                        self.messages.append(body)
                    conn.sendall(b"250 2.0.0 Ok: queued as PIPEQ\r\n" if not lone
                                 else b"554 5.5.1 no valid recipients\r\n")
                    continue
                if b"\r\n" not in buf:
                    break
                line, buf = buf.split(b"\r\n", 1)
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(self.ehlo_reply())
                elif verb == b"STAR" and self.broken_tls:
                    self.tls_attempts += 1
                    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    conn.sendall(b"this is not a TLS record at all\r\n")
                    return
                elif verb == b"MAIL":
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    conn.sendall(next((reply for word, reply in self.RCPT_REFUSALS if word in line),
                                      b"250 2.1.5 Ok\r\n"))
                elif verb == b"DATA":
                    in_data = True
                    conn.sendall(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 Ok\r\n")

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def pipe_peer(peer):
    p = RawPeer("127.0.0.103", peer.port)
    yield p
    p.stop()


def test_pipelining_server_gets_the_envelope_in_one_write(sender, pipe_peer):
    qid, subject = submit(sender, "fwd14@example.test", "pip@pipelined.outbound.test")
    sender.wait_log(qid, r"removed")
    assert len(pipe_peer.messages) == 1 and subject.encode() in pipe_peer.messages[0]
    envelope = next(c for c in pipe_peer.chunks if c.startswith(b"MAIL FROM:"))
    assert b"\r\nRCPT TO:<pip@pipelined.outbound.test>\r\nDATA\r\n" in envelope, envelope


def test_pipelined_refusal_at_rcpt_is_reported_and_no_message_sent(sender, pipe_peer):
    qid, subject = submit(sender, "fwd15@example.test", "refuse1@pipelined.outbound.test")
    log = sender.wait_log(qid, r"removed")
    assert re.search(r"bounced .*status=5\.1\.1", log)
    assert "no such user here" in log and "after RCPT TO" in log
    assert pipe_peer.messages == []
    # the server said 354 to DATA after refusing the recipient: pochta ended it with a lone dot
    assert pipe_peer.lone_dots == 1


def test_failed_tls_handshake_falls_back_to_clear_text(sender, peer):
    """The MX offers STARTTLS but its TLS is broken: opportunistic TLS (RFC
    7435) must not cost the delivery, so the message goes over a fresh
    connection without STARTTLS."""
    raw = RawPeer("127.0.0.104", peer.port, broken_tls=True)
    try:
        qid, subject = submit(sender, "fwd16@example.test", "someone@badtls.outbound.test")
        log = sender.wait_log(qid, r"removed")
    finally:
        raw.stop()
    assert raw.tls_attempts == 1 and raw.sessions == 2
    assert len(raw.messages) == 1 and subject.encode() in raw.messages[0]
    assert "tls=failed action=retry_without_tls" in log
    assert re.search(r"attempt to=<someone@badtls\.outbound\.test> host=tlsfail\.outbound\.test "
                     r"ip=127\.0\.0\.104 port=\d+ tls=no .*code=250", log), log
    assert "delivered" in log and "bounced" not in log


@pytest.fixture
def refuser(peer):
    """refuser.outbound.test: a host that greets with 554."""
    p = RawPeer("127.0.0.105", peer.port, greeting=b"554 5.7.1 refuser.outbound.test: no SMTP service here\r\n")
    yield p
    p.stop()


def test_5xx_greeting_moves_on_to_the_next_mx(sender, peer, refuser):
    """A host that greets with 554 refuses to talk, it does not refuse the
    recipient: the next MX gets the message (Postfix: smtp_skip_5xx_greeting)."""
    qid, subject = submit(sender, "fwd17@example.test", "someone@refused.outbound.test")
    log = sender.wait_log(qid, r"removed")
    assert refuser.sessions >= 1 and refuser.messages == [] and len(peer_got(peer, subject)) == 1
    assert log.index("ip=127.0.0.105") < log.index("ip=127.0.0.100")
    assert "no SMTP service here" in log and "bounced" not in log


def test_5xx_greeting_of_the_only_mx_defers_not_bounces(sender, refuser):
    qid, _ = submit(sender, "fwd18@example.test", "someone@only554.outbound.test")
    log = sender.wait_log(qid, r"deferred")
    assert re.search(r"deferred to=<fwd18@example\.test> .*no SMTP service here.*in the greeting", log), log
    assert "bounced" not in log


@pytest.mark.parametrize("local,status,text", [
    ("multi1", "5.7.26", "550-5.7.26 This mail is unauthenticated, which poses a risk / 550-5.7.26 to the sender"),
    ("mismatch1", "5.2.2", "552 4.2.2 mailbox full for good"),
])
def test_bounce_status_is_the_reply_enhanced_code(sender, pipe_peer, local, status, text):
    """The status in the log and the notice is the reply's own RFC 3463 code,
    read from the first line of a continued reply too, with the class of the
    reply code (a 552 is permanent whatever its enhanced code says)."""
    qid, _ = submit(sender, f"fwd19{local}@example.test", f"{local}@pipelined.outbound.test")
    log = sender.wait_log(qid, r"removed")
    assert re.search(rf"bounced .*status={re.escape(status)} ", log), log
    assert text in log
