"""Delivery trace (`pochta trace`) and queue management (`pochta queue`) against a
real pochtad delivering to a scripted aiosmtpd peer found through the test DNS
(trace.test MX 10 peer.trace.test = 127.0.0.210, STARTTLS offered).

The peer answers by local part: ok* -> 250 with "queued as TRQn" after DATA;
temp* -> 451 4.7.1 at RCPT, always; perm* -> 550 5.1.1 at RCPT; flip* -> 451
the first time, then accepted; slow* -> the first DATA is answered only after
SLOW_DATA seconds (the sender is killed meanwhile). Our SMTP clients connect
from 127.0.0.200-219.
"""
import asyncio
import re
import smtplib
import ssl
import time

import pytest

from pochta_instance import free_port
from smtppeer import ScriptedRcpt, start_peer

PEER_IP = "127.0.0.210"
SENDER = "desk@trace.test"
SLOW_DATA = 6.0


class PeerHandler(ScriptedRcpt):
    RCPT_SCRIPT = (
        ("perm", "550 5.1.1 <%s>: Recipient address rejected: no such user at the trace peer", False),
        ("temp", "451-4.7.1 <%s>: the trace peer is busy,\r\n451 4.7.1 second line: try again later", False),
        ("flip", "451 4.3.0 <%s>: temporary trouble at the trace peer", True),
    )

    def __init__(self):
        super().__init__()
        self.messages = []   # (rcpt_tos, content bytes, tls used)
        self.slowed = set()  # slow* recipients whose DATA reply was held once
        self.data_started = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content, session.ssl is not None))
        n = len(self.messages)
        slow = [r for r in envelope.rcpt_tos if r.startswith("slow") and r not in self.slowed]
        if slow:
            self.slowed.update(slow)
            self.data_started.append(slow[0])
            await asyncio.sleep(SLOW_DATA)
        return "250 2.0.0 Ok: queued as TRQ%d" % n


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    handler = PeerHandler()
    handler.port = free_port(PEER_IP)
    ctl = start_peer(handler, PEER_IP, handler.port, "peer.trace.test", tls_dir=tmp_path_factory.mktemp("tracepeer"))
    yield handler
    ctl.stop()


def make_sender(pochta_factory, peer, **extra):
    settings = dict(remote_smtp_port=str(peer.port), retry_min="1h", retry_max="2h", remote_timeout="20s")
    settings.update(extra)
    return pochta_factory(**settings)


def submit(inst, alias, target, source="127.0.0.200"):
    """alias@example.test forwards to target; send one message to it; (queue ID, subject, Message-ID)."""
    inst.cli("alias", "add", alias, target)
    subject = "trace test to " + target
    msgid = "<trace.%s.%d@client.trace.test>" % (alias.split("@")[0], time.time_ns())
    body = (f"From: {SENDER}\r\nTo: {alias}\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n\r\n"
            "hello from the trace test\r\n")
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10, source_address=(source, 0)) as s:
        s.ehlo("client.trace.test")
        s.mail(SENDER)
        code, _ = s.rcpt(alias)
        assert code == 250
        code, msg = s.data(body.encode())
        assert code == 250, msg
    m = re.search(rb"queued as ([0-9A-F]{16})", msg)
    assert m, msg
    return m.group(1).decode(), subject, msgid


def wait_for(inst, args, pattern, timeout=30.0):
    deadline = time.time() + timeout
    out = ""
    while time.time() < deadline:
        r = inst.cli(*args, check=False)
        out = r.stdout + r.stderr
        if re.search(pattern, out):
            return out
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in `pochta {' '.join(args)}`:\n{out}\n{inst.read_log()[-3000:]}")


def peer_got(peer, subject):
    return [m for m in peer.messages if subject.encode() in m[1]]


def test_trace_delivered_names_attempt_tls_and_remote_queue_id(pochta_factory, peer):
    inst = make_sender(pochta_factory, peer)
    qid, subject, msgid = submit(inst, "tr1@example.test", "ok1@trace.test")
    wait_for(inst, ["log", qid], r"removed")
    out = inst.cli("trace", qid).stdout
    assert "ACCEPTED and queued: from <desk@trace.test>, 1 recipient(s)" in out
    assert "client.trace.test" in out and "127.0.0.200" in out
    assert re.search(r"Attempt for <ok1@trace\.test>: peer\.trace\.test \[127\.0\.0\.210\] port \d+ "
                     r"over TLSv1\.[23] \(TLS_\w+\)", out), out
    assert "DELIVERED <ok1@trace.test>: the remote server answered 250 2.0.0 Ok: queued as TRQ" in out
    m = re.search(r"<ok1@trace\.test>: delivered at .* with 250 \(remote queue ID (TRQ\d+)\)", out)
    assert m, out
    # the ID the trace names is the one the peer gave this very message
    assert subject.encode() in peer.messages[int(m.group(1)[3:]) - 1][1]
    assert "In the queue:  no, finished at" in out
    assert "Accepted:      YES" in out
    # the same story from the Message-ID, and the message listed by address
    by_msgid = inst.cli("trace", msgid).stdout
    assert f"Message {qid}" in by_msgid and "remote queue ID TRQ" in by_msgid
    by_addr = inst.cli("trace", "ok1@trace.test").stdout
    assert f"Message {qid}" in by_addr and "DELIVERED <ok1@trace.test>" in by_addr
    # the attempt row keeps TLS version and cipher
    log = inst.cli("log", qid).stdout
    assert re.search(r"attempt to=<ok1@trace\.test> host=peer\.trace\.test ip=127\.0\.0\.210 port=\d+ "
                     r"tls=TLSv1\.[23] cipher=TLS_\w+ code=250 ", log), log
    assert re.search(r"delivered to=<ok1@trace\.test> orig_to=<tr1@example\.test> relay=remote .*"
                     r"remote_id=TRQ\d+ reply=", log), log


def test_trace_deferred_multiline_reply_and_relay_remote(pochta_factory, peer):
    inst = make_sender(pochta_factory, peer)
    qid, _, _ = submit(inst, "tr2@example.test", "temp1@trace.test")
    log = wait_for(inst, ["log", qid], r"deferred")
    # the deferral of a remote recipient says relay=remote (it used to say relay=local)
    assert re.search(r"deferred to=<tr2@example.test> relay=remote ", log), log
    out = inst.cli("trace", qid).stdout
    assert re.search(r"DEFERRED <tr2@example\.test> \(attempt 1, retry in (59m\d\ds|1h00m)\)", out), out
    # the full multi-line reply
    assert "451-4.7.1 <temp1@trace.test>: the trace peer is busy, / 451 4.7.1 second line: try again later" in out
    assert re.search(r"In the queue:  YES, 1 recipient\(s\) pending; next attempt \S+ \S+ \(in (59m|1h)", out), out
    assert "<tr2@example.test>: still deferred after 1 attempt(s)" in out
    inst.cli("queue", "delete", qid)


def test_trace_bounced_with_reason(pochta_factory, peer):
    inst = make_sender(pochta_factory, peer)
    qid, _, _ = submit(inst, "tr3@example.test", "perm1@trace.test")
    wait_for(inst, ["log", qid], r"removed")
    out = inst.cli("trace", qid).stdout
    assert "BOUNCED <perm1@trace.test> (status 5.1.1)" in out
    assert "550 5.1.1 <perm1@trace.test>: Recipient address rejected: no such user at the trace peer" in out
    assert "(after RCPT TO)" in out
    assert re.search(r"<perm1@trace\.test>: bounced with status 5\.1\.1: peer\.trace\.test\[127\.0\.0\.210\] said", out)
    assert "A failure notice about <perm1@trace.test> went to the sender <desk@trace.test>" in out
    assert "In the queue:  no, finished at" in out


def test_trace_refused_at_rcpt_by_address(pochta_factory, peer):
    inst = make_sender(pochta_factory, peer)
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10, source_address=("127.0.0.201", 0)) as s:
        s.ehlo("client.trace.test")
        s.mail("someone@trace.test")
        code, reply = s.rcpt("nosuchuser@example.test")
    assert code == 550
    out = inst.cli("trace", "nosuchuser@example.test").stdout
    assert "Accepted:      NO, refused at SMTP time (never queued)" in out
    assert "RCPT TO:<nosuchuser@example.test> REFUSED, we replied 550 5.1.1" in out
    assert reply.decode().split("<nosuchuser@example.test>: ", 1)[1][:30] in out
    assert "127.0.0.201" in out and "MAIL FROM:<someone@trace.test>" in out
    # the sender's address finds it too; an unknown address exits 1
    assert "REFUSED" in inst.cli("trace", "someone@trace.test").stdout
    r = inst.cli("trace", "never-seen@nowhere.test", check=False)
    assert r.returncode == 1 and "nothing is known" in r.stderr
    assert inst.cli("trace", "0123456789ABCDEF", check=False).returncode == 1
    assert inst.cli("trace", check=False).returncode == 2


def test_queue_list_hold_flush_release_delete(pochta_factory, peer):
    inst = make_sender(pochta_factory, peer)
    qid, subject, _ = submit(inst, "tr5@example.test", "flip5@trace.test")
    wait_for(inst, ["log", qid], r"deferred")
    listing = inst.cli("queue", "list").stdout
    assert qid in listing and "from <desk@trace.test>" in listing
    assert re.search(r"<tr5@example\.test>: 1 attempt, next in (59m|1h)", listing), listing
    assert "451 4.3.0 <flip5@trace.test>: temporary trouble" in listing
    assert "1 message in the queue, 0 on hold." in listing
    # hold: listed as held; a flush does not deliver it
    assert "is on hold" in inst.cli("queue", "hold", qid).stdout
    assert "HELD" in inst.cli("queue", "list").stdout
    assert "ON HOLD" in inst.cli("queue", "show", qid).stdout
    inst.cli("queue", "flush")
    deadline = time.time() + 20
    while "event=held" not in inst.read_log() and time.time() < deadline:
        time.sleep(0.2)
    assert "event=held" in inst.read_log(), "the flushed run did not see the hold"
    assert not peer_got(peer, subject)
    # a hold survives a restart
    inst.stop()
    inst.start()
    assert "HELD" in inst.cli("queue", "list").stdout
    # release: the daemon tries at once (the retry time is an hour away) and delivers
    assert "released" in inst.cli("queue", "release", qid).stdout
    wait_for(inst, ["log", qid], r"removed")
    assert len(peer_got(peer, subject)) == 1
    out = inst.cli("trace", qid).stdout
    assert "Put on hold by the administrator" in out and "Released from hold by the administrator" in out
    assert "<flip5@trace.test>: delivered at" in out and "still deferred" not in out.split("Summary:")[1]
    assert "The queue is empty." in inst.cli("queue", "list").stdout
    # delete: a message that would be retried for days goes at once, logged
    qid2, subject2, _ = submit(inst, "tr6@example.test", "temp6@trace.test")
    wait_for(inst, ["log", qid2], r"deferred")
    assert "is deleted" in inst.cli("queue", "delete", qid2).stdout
    assert "The queue is empty." in inst.cli("queue", "list").stdout
    out = inst.cli("trace", qid2).stdout
    assert "DELETED from the queue by the administrator" in out
    assert "In the queue:  no, deleted by the administrator" in out
    r = inst.cli("queue", "show", qid2, check=False)
    assert r.returncode == 1 and "not in the queue" in r.stderr
    assert inst.cli("queue", "hold", "NOTANID", check=False).returncode == 1
    assert inst.cli("queue", "bogus", check=False).returncode == 2


def test_flush_one_message_attempts_now(pochta_factory, peer):
    inst = make_sender(pochta_factory, peer)
    qid, subject, _ = submit(inst, "tr7@example.test", "flip7@trace.test")
    wait_for(inst, ["log", qid], r"deferred")
    assert not peer_got(peer, subject)
    inst.cli("queue", "flush", qid)
    wait_for(inst, ["log", qid], r"removed")
    assert len(peer_got(peer, subject)) == 1
    assert "Delivery attempt requested now by the administrator" in inst.cli("trace", qid).stdout


def test_sigkill_mid_delivery_loses_nothing(pochta_factory, peer):
    inst = make_sender(pochta_factory, peer, retry_min="1s", retry_max="2s")
    qid, subject, _ = submit(inst, "tr8@example.test", "slow8@trace.test")
    deadline = time.time() + 20
    while "slow8@trace.test" not in peer.data_started and time.time() < deadline:
        time.sleep(0.05)
    assert "slow8@trace.test" in peer.data_started, inst.read_log()[-3000:]
    inst.kill()  # SIGKILL while the peer still holds back its reply to DATA
    inst.start()
    wait_for(inst, ["log", qid], r"removed", timeout=40)
    copies = peer_got(peer, subject)
    assert len(copies) >= 1  # at-least-once: the copy before the kill may count too
    assert "The queue is empty." in inst.cli("queue", "list").stdout
    out = inst.cli("trace", qid).stdout
    assert "DELIVERED <slow8@trace.test>" in out and "In the queue:  no" in out


def test_trace_local_delivery(pochta_factory, peer):
    inst = make_sender(pochta_factory, peer)
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10, source_address=("127.0.0.202", 0)) as s:
        s.ehlo("client.trace.test")
        refused = s.sendmail(SENDER, ["alice@example.test"],
                             b"From: desk@trace.test\r\nSubject: local trace\r\n\r\nhi\r\n")
    assert refused == {}
    inst.wait_messages("alice@example.test", 1)
    out = wait_for(inst, ["trace", "alice@example.test"], r"Left the queue")
    assert "DELIVERED <alice@example.test> into the local mailbox" in out
    assert "<alice@example.test>: delivered into the local mailbox at" in out
    assert "127.0.0.202" in out


def test_trace_mail_refused_before_the_transaction(pochta_factory, peer):
    """MAIL without AUTH on the submission port is refused before any transaction
    exists; the refusal still has its own message-log row and the trace finds it."""
    inst = make_sender(pochta_factory, peer)
    with smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=10, source_address=("127.0.0.203", 0)) as s:
        s.ehlo("client.trace.test")
        s.starttls(context=ssl._create_unverified_context())
        s.ehlo("client.trace.test")
        code, reply = s.mail("alice@example.test")
    assert code == 530
    out = inst.cli("trace", "alice@example.test").stdout
    assert "MAIL FROM:<alice@example.test> refused: we replied 530 5.7.0" in out
    assert reply.decode()[:40] in out
    assert "(client unknown[127.0.0.203])" in out
    assert "Accepted:      NO, refused at SMTP time (never queued)" in out
