"""The bounce collector in the daemon: mail our users send to other domains
leaves with a signed VERP return path (bounces+QID=local=domain=MAC@example.test),
bounces to it are read instead of delivered, recorded per recipient, shown in
`pochta log QID` and `pochta bounces show`, handed to the (local) sender, and
after the threshold the address is refused at submission and by sendmail.

Peer: a scripted aiosmtpd on 127.0.0.160 found through the MX of
hard.bounce.test (tests/zones/bounce.test.zone); perm* local parts get
550 5.1.1 at RCPT, the rest is accepted and the test later sends an RFC 3464
report back to the return path over port 25 from 127.0.0.161. Client
addresses 127.0.0.160-179 are this file's range.
"""
import re
import smtplib
import ssl
import subprocess
import time

import pytest

from pochta_instance import POCHTA, free_port
from smtppeer import start_peer

PEER_IP = "127.0.0.160"
MTA_IP = "127.0.0.161"
PASSWORD = "secret-pass"
VERP_RE = re.compile(r"^bounces\+([0-9A-F]{16})=(.+)=([a-z2-7]{10})@example\.test$")


class Peer:
    def __init__(self):
        self.mail_from = {}   # recipient -> MAIL FROM it was sent with
        self.accepted = []    # (mail_from, rcpt, content)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.mail_from[address] = envelope.mail_from
        if address.split("@")[0].startswith("perm"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        for r in envelope.rcpt_tos:
            self.accepted.append((envelope.mail_from, r, envelope.content))
        return "250 2.0.0 Ok: queued as PEER%d" % len(self.accepted)


@pytest.fixture(scope="module")
def peer():
    handler = Peer()
    port = free_port(PEER_IP)
    ctl = start_peer(handler, PEER_IP, port, "peer.bounce.test")
    handler.port = port
    yield handler
    ctl.stop()


@pytest.fixture
def mx(pochta_factory, peer):
    return pochta_factory(remote_smtp_port=str(peer.port), retry_min="1s", retry_max="2s",
                          remote_timeout="10s", bounce_suppress_after="2")


def submit(inst, rcpt, subject):
    """alice sends one message on the submission port (STARTTLS + AUTH); the RCPT reply or the queue ID."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=30) as s:
        s.ehlo("client.example.test")
        s.starttls(context=ctx)
        s.ehlo("client.example.test")
        s.login("alice@example.test", PASSWORD)
        s.mail("alice@example.test")
        code, text = s.rcpt(rcpt)
        if code != 250:
            return code, text.decode()
        body = f"From: alice@example.test\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nhello\r\n"
        code, text = s.data(body.encode())
        assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()




def wait_peer(peer, rcpt, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if rcpt in peer.mail_from:
            return peer.mail_from[rcpt]
        time.sleep(0.1)
    raise AssertionError(f"the peer never saw {rcpt}")


def dsn(verp, rcpt, status, diagnostic, subject):
    """A Postfix-style RFC 3464 report from the peer's MTA to the VERP return path."""
    return (f"From: MAILER-DAEMON@mta.bounce.test (Mail Delivery System)\r\nTo: {verp}\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
            f" boundary=\"B1\"\r\n\r\n--B1\r\nContent-Type: text/plain\r\n\r\n"
            f"I'm sorry to have to inform you that your message could not be delivered to\r\n"
            f"<{rcpt}>: {diagnostic}\r\n\r\n--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
            f"Reporting-MTA: dns; mta.bounce.test\r\n\r\nFinal-Recipient: rfc822; {rcpt}\r\n"
            f"Action: failed\r\nStatus: {status}\r\nRemote-MTA: dns; store.bounce.test\r\n"
            f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"From: alice@example.test\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\n--B1--\r\n").encode()


def send_port25(inst, mail_from, rcpt, body):
    """One message over port 25 from the peer's MTA address; (RCPT code, text, DATA reply or None)."""
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30, source_address=(MTA_IP, 0)) as s:
        s.ehlo("mta.bounce.test")
        s.mail(mail_from)
        code, text = s.rcpt(rcpt)
        if code != 250:
            return code, text.decode(), None
        return code, text.decode(), s.data(body)


def queued_id(data_reply):
    code, text = data_reply
    assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


def test_refused_at_rcpt_our_dsn_is_collected_then_submission_refuses(mx, peer):
    rcpt = "perm1@hard.bounce.test"
    qid = submit(mx, rcpt, "to a dead mailbox")
    verp = wait_peer(peer, rcpt)
    m = VERP_RE.match(verp)
    assert m and m.group(1) == qid and m.group(2) == "perm1=hard.bounce.test", verp
    # our own DSN goes to the message's (short) VERP address, one notice for all the run's
    # refusals, is read, and lands in the original message's log
    log = mx.wait_log(qid, r"bounce_received .*reason=userunknown")
    assert re.search(rf"dsn to=<bounces\+{qid}=[a-z2-7]+@example\.test> rcpt=<{re.escape(rcpt)}>",
                     log.replace("event=", "")), log
    assert f"rcpt=<{rcpt}> status=5.1.1 reply=550 reason=userunknown hard=yes suppressed=yes" in log
    # the readable notice still reaches alice
    got = mx.wait_message_matching("alice@example.test", lambda b: b"Undelivered Mail Returned" in b)
    assert b"perm1@hard.bounce.test" in got and b"User unknown in virtual mailbox table" in got
    show = mx.cli("bounces", "show", rcpt).stdout
    assert "state: suppressed" in show and f"queue_id={qid}" in show and "reason=userunknown" in show
    # userunknown suppresses at once: the next submission is refused at RCPT with the reason and the fix
    code, text = submit(mx, rcpt, "again")
    assert code == 550, text
    assert text.startswith("5.1.1 <perm1@hard.bounce.test>: Recipient suppressed")
    assert "userunknown" in text and "pochta bounces clear perm1@hard.bounce.test" in text
    # pochta sendmail refuses it too, with sendmail's EX_NOUSER and the same explanation
    env = {"POCHTA_CONFIG": mx.conf, "PATH": "/usr/bin:/bin"}
    r = subprocess.run([POCHTA, "sendmail", "-i", "-f", "alice@example.test", rcpt], env=env,
                       input=b"Subject: via sendmail\n\nhello\n", capture_output=True, timeout=60)
    assert r.returncode == 67, r
    assert b"recipient suppressed" in r.stderr and b"pochta bounces clear" in r.stderr
    # clearing lifts it
    mx.cli("bounces", "clear", rcpt)
    assert isinstance(submit(mx, rcpt, "after clear"), str)


def test_remote_dsn_over_port_25_counts_until_the_threshold(mx, peer):
    rcpt = "moved1@hard.bounce.test"
    diag = "550 5.1.6 <moved1@hard.bounce.test>: mailbox has moved, the recipient is no longer here"
    qids = []
    for n in (1, 2):
        subject = f"to a moved mailbox {n}"
        peer.mail_from.pop(rcpt, None)
        qid = submit(mx, rcpt, subject)
        qids.append(qid)
        verp = wait_peer(peer, rcpt)
        assert VERP_RE.match(verp).group(1) == qid
        mx.wait_log(qid, r"delivered .*relay=remote")
        code, text, data = send_port25(mx, "", verp, dsn(verp, rcpt, "5.1.6", diag, subject))
        assert code == 250, text
        bid = queued_id(data)
        log = mx.wait_log(qid, r"bounce_received")
        assert f"rcpt=<{rcpt}> status=5.1.6 reply=550 reason=hasmoved hard=yes" in log
        assert f"bounce_id={bid}" in log and "remote_mta=store.bounce.test" in log
        assert ("suppressed=yes" in log) == (n == 2)
        mx.wait_log(bid, r"relay=collector")
        assert "dsn" not in mx.cli("log", bid).stdout.split("relay=collector")[1]
        mx.wait_message_matching("alice@example.test", lambda b, s=subject: s.encode() in b
                                 and b"Final-Recipient: rfc822; moved1" in b)
        if n == 1:
            show = mx.cli("bounces", "show", rcpt).stdout
            assert "state: active" in show and "hard bounces: 1" in show
    show = mx.cli("bounces", "show", rcpt).stdout
    assert "state: suppressed" in show and "hard bounces: 2" in show
    assert all(f"queue_id={q}" in show for q in qids)
    code, text = submit(mx, rcpt, "third")
    assert code == 550 and "hasmoved after 2 hard bounce(s)" in text, text


def test_forged_or_garbled_tokens_are_unknown_users(mx, peer):
    rcpt = "ok2@hard.bounce.test"
    qid = submit(mx, rcpt, "for a real token")
    verp = wait_peer(peer, rcpt)
    local, mac = verp.split("@")[0].rsplit("=", 1)
    forged = [
        verp.replace("=ok2=", "=ok3="),                       # another recipient with this MAC
        f"{local}={'a' if mac[0] != 'a' else 'b'}{mac[1:]}@example.test",  # a changed MAC
        verp.replace(qid, "0" * 16),                          # another message
        "bounces+garbage@example.test",
        "bounces+@example.test",
    ]
    body = dsn(verp, "victim@hard.bounce.test", "5.1.1", "550 5.1.1 user unknown", "x")
    for addr in forged:
        code, text, _ = send_port25(mx, "", addr, body)
        assert code == 550 and text.startswith("5.1.1") and "no such user" in text, (addr, text)
    assert mx.cli("bounces", "list", "--all").stdout.strip() == ""
    # the CLI reads the signed form too (with the key from state_dir): queue ID and recipient
    report = dsn(verp, rcpt, "5.1.1", "550 5.1.1 <ok2@hard.bounce.test>: user unknown", "x").decode()
    out = mx.cli("bounces", "collect", "--rcpt", verp, "-", input=report).stdout
    assert "recorded 1 failed recipient(s), 1 newly suppressed" in out
    assert f"queue_id={qid}" in mx.cli("bounces", "show", rcpt).stdout


def test_mail_to_the_bounce_address_is_never_bounced(mx, peer):
    rcpt = "ok4@hard.bounce.test"
    qid = submit(mx, rcpt, "for a reply")
    verp = wait_peer(peer, rcpt)
    mx.wait_log(qid, r"delivered .*relay=remote")
    # a plain message (not a report) from a real sender: not counted, not bounced, handed to alice
    body = b"From: carol@friends.example\r\nTo: x\r\nSubject: just a reply\r\n\r\nthanks\r\n"
    code, text, data = send_port25(mx, "carol@friends.example", verp, body)
    assert code == 250, text
    bid = queued_id(data)
    log = mx.wait_log(bid, r"relay=collector")
    assert "counted=0" in log and "bounced" not in log and " dsn " not in log.replace("event=", " ")
    mx.wait_message_matching("alice@example.test", lambda b: b"just a reply" in b)
    assert "bounce_received" not in mx.cli("log", qid).stdout
    assert mx.cli("bounces", "list", "--all").stdout.strip() == ""
