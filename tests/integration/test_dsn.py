"""Delivery status notifications with the RFC 3461 parameters NOTIFY, RET, ENVID
and ORCPT, end to end: a real pochtad, aiosmtpd peers found through MX records in
the test NSD, and the notices read back from the sender's Maildir with Python's
`email` package.

Peers (one port): 127.0.0.180 (yes.dsn.test) offers DSN and records the MAIL and
RCPT lines it gets; 127.0.0.181 (no.dsn.test) does not offer DSN. Local parts
choose the answer at RCPT: perm* -> 550 5.1.1, slow* -> 451 4.7.1, once* -> 451
the first time, longperm* -> a 2.5 KB 550 in five lines, else 250.
The sender is bob@example.test (local), so every notice lands in bob's Maildir.
"""
import email
import re
import smtplib
import time
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from pochta_instance import free_port
from smtppeer import ScriptedRcpt, start_peer

DSN_PEER_IP = "127.0.0.180"
PLAIN_PEER_IP = "127.0.0.181"
DSN_KEYWORDS = ("RET", "ENVID", "NOTIFY", "ORCPT")


class PeerHandler(ScriptedRcpt):
    RCPT_SCRIPT = (
        # a 5-line reply of ~2.5 KB
        ("longperm", "\r\n".join(["550-5.1.1 line %d %s" % (i, "x" * 480) for i in range(4)]
                                  + ["550 5.1.1 the last line of a long refusal"]), False),
        ("perm", "550 5.1.1 <%s>: Recipient address rejected: User unknown in peer table", False),
        ("slow", "451 4.7.1 <%s>: greylisted by the peer, try again much later", False),
        ("once", "451 4.3.0 <%s>: try again in a moment", True),
    )

    def __init__(self, offers_dsn):
        super().__init__()
        self.offers_dsn = offers_dsn
        self.lines = []      # ("MAIL"|"RCPT", argument as sent)
        self.messages = []   # (mail_from, rcpt_tos, content)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.offers_dsn:   # RFC 3461 3: the keyword, before the last line
            responses.insert(len(responses) - 1, "250-DSN")
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued as DSNPEER%d" % len(self.messages)


class DsnSMTP(SMTP):
    """aiosmtpd refuses parameters it does not know (555): record the DSN ones, strip them, go on."""

    def _strip_dsn(self, verb, arg):
        self.event_handler.lines.append((verb, arg or ""))
        if not arg or not self.event_handler.offers_dsn:
            return arg
        words = arg.split(" ")
        return " ".join(w for w in words if w.split("=")[0].upper() not in DSN_KEYWORDS)

    async def smtp_MAIL(self, arg):
        return await super().smtp_MAIL(self._strip_dsn("MAIL", arg))

    async def smtp_RCPT(self, arg):
        return await super().smtp_RCPT(self._strip_dsn("RCPT", arg))


class DsnController(Controller):
    def factory(self):
        return DsnSMTP(self.handler, **self.SMTP_kwargs)


@pytest.fixture(scope="module")
def peers():
    port = free_port(DSN_PEER_IP)
    capable, plain = PeerHandler(True), PeerHandler(False)
    c1 = start_peer(capable, DSN_PEER_IP, port, "peer.dsn.test", controller=DsnController)
    c2 = start_peer(plain, PLAIN_PEER_IP, port, "plain.dsn.test", controller=DsnController)
    yield port, capable, plain
    c2.stop()
    c1.stop()


@pytest.fixture
def inst(pochta_factory, peers):
    return pochta_factory(remote_smtp_port=str(peers[0]), retry_min="1s", retry_max="1s", remote_timeout="10s")


def send(inst, rcpts, mail_params=(), subject="dsn test", body="hello there\r\n"):
    """bob@example.test sends one message on port 25; rcpts: [(address, [params])]. The queue ID."""
    msg = (f"From: bob@example.test\r\nTo: someone@example.test\r\nSubject: {subject}\r\n\r\n{body}").encode()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("mx.example.test")
        code, reply = s.mail("bob@example.test", list(mail_params))
        assert code == 250, reply
        for addr, params in rcpts:
            code, reply = s.rcpt(addr, list(params))
            assert code == 250, reply
        code, reply = s.data(msg)
        assert code == 250, reply
    return re.search(rb"queued as ([0-9A-F]{16})", reply).group(1).decode()




def notice(raw):
    """A notice as (message, parts, per-message fields, [per-recipient fields])."""
    msg = email.message_from_bytes(raw, policy=email_policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Return-Path"].strip() == "<>"
    parts = list(msg.iter_parts())
    assert parts[1].get_content_type() == "message/delivery-status"
    blocks = parts[1].get_payload()
    return msg, parts, blocks[0], blocks[1:]


def test_ehlo_offers_dsn_on_port_25_and_submission(inst):
    for port in (inst.port, inst.submission_port):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("mx.example.test")
            assert s.has_extn("dsn"), s.esmtp_features


@pytest.mark.parametrize("verb,params,names", [
    ("MAIL", ["RET=ALL"], "RET"),
    ("MAIL", ["RET=FULL", "RET=HDRS"], "RET"),
    ("MAIL", ["ENVID=" + "x" * 101], "ENVID"),
    ("MAIL", ["ENVID=bad+zz"], "ENVID"),
    ("MAIL", ["ENVID=a+0Ab"], "ENVID"),
    ("RCPT", ["NOTIFY=NEVER,SUCCESS"], "NOTIFY=NEVER"),
    ("RCPT", ["NOTIFY=SOMETIMES"], "NOTIFY"),
    ("RCPT", ["NOTIFY=FAILURE", "NOTIFY=DELAY"], "NOTIFY"),
    ("RCPT", ["ORCPT=rfc822"], "ORCPT"),
    ("RCPT", ["ORCPT=rfc822;a+zz"], "ORCPT"),
])
def test_bad_dsn_parameters_get_501(inst, verb, params, names):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("mx.example.test")
        if verb == "MAIL":
            code, reply = s.mail("bob@example.test", params)
        else:
            assert s.mail("bob@example.test")[0] == 250
            code, reply = s.rcpt("alice@example.test", params)
        assert code == 501, reply
        assert reply.startswith(b"5.5.4 ") and names.encode() in reply, reply
        # the session goes on: the same command without the bad parameter works
        if verb == "MAIL":
            assert s.mail("bob@example.test")[0] == 250
        else:
            assert s.rcpt("alice@example.test")[0] == 250


def test_unknown_parameter_still_555(inst):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("mx.example.test")
        code, reply = s.mail("bob@example.test", ["XFROB=1"])
        assert code == 555 and reply.startswith(b"5.5.4"), reply


def test_notify_never_gives_no_bounce(inst, peers):
    inst.cli("alias", "add", "never@example.test", "perm-never@no.dsn.test")
    qid = send(inst, [("never@example.test", ["NOTIFY=NEVER"])])
    log = inst.wait_log(qid, r"removed")
    assert re.search(r"bounced .*status=5\.1\.1", log)
    assert " dsn " not in log
    time.sleep(1.0)
    assert inst.messages("bob@example.test") == []


def test_refused_at_smtp_time_gets_no_notice(inst):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("mx.example.test")
        s.mail("bob@example.test")
        code, _ = s.rcpt("nobody@example.test", ["NOTIFY=FAILURE"])
        assert code == 550
    time.sleep(1.0)
    assert inst.messages("bob@example.test") == []


def test_notify_success_local_delivery_with_envid_and_orcpt(inst):
    qid = send(inst, [("alice@example.test", ["NOTIFY=SUCCESS", "ORCPT=rfc822;Alice+2Bold@Example.test"])],
               mail_params=["ENVID=QQ+2B314159"], subject="success wanted")
    assert len(inst.wait_messages("alice@example.test", 1)) == 1
    msg, parts, per_msg, rcpts = notice(inst.wait_messages("bob@example.test", 1)[0])
    assert msg["Subject"] == "Successful Mail Delivery Report"
    assert per_msg["Original-Envelope-Id"] == "QQ+314159"
    assert per_msg["Reporting-MTA"] == "dns; mx.example.test"
    assert len(rcpts) == 1
    assert rcpts[0]["Final-Recipient"] == "rfc822; alice@example.test"
    assert rcpts[0]["Original-Recipient"] == "rfc822; Alice+old@Example.test"
    assert rcpts[0]["Action"] == "delivered" and rcpts[0]["Status"] == "2.0.0"
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert "Subject: success wanted" in parts[2].get_payload()
    assert "action=delivered" in inst.wait_log(qid, r"removed")


def test_default_notify_gives_no_success_notice(inst):
    qid = send(inst, [("alice@example.test", [])])
    inst.wait_log(qid, r"removed")
    time.sleep(1.0)
    assert inst.messages("bob@example.test") == []


def test_notify_success_relayed_to_peer_without_dsn(inst, peers):
    _, _, plain = peers
    inst.cli("alias", "add", "relay1@example.test", "carl@no.dsn.test")
    qid = send(inst, [("relay1@example.test", ["NOTIFY=SUCCESS,FAILURE"])], mail_params=["RET=HDRS"],
               subject="relayed one")
    msg, parts, _, rcpts = notice(inst.wait_messages("bob@example.test", 1)[0])
    assert msg["Subject"] == "Successful Mail Delivery Report"
    assert rcpts[0]["Action"] == "relayed" and rcpts[0]["Status"] == "2.0.0"
    assert rcpts[0]["Final-Recipient"] == "rfc822; carl@no.dsn.test"
    assert rcpts[0]["Original-Recipient"] == "rfc822; relay1@example.test"
    assert "queued as DSNPEER" in rcpts[0]["Diagnostic-Code"]
    # the peer offered no DSN, so it was given no DSN parameters
    sent = [a for v, a in plain.lines if "carl@no.dsn.test" in a]
    assert sent and not any(k in sent[0].upper() for k in ("NOTIFY", "ORCPT"))
    inst.wait_log(qid, r"removed")


def test_parameters_passed_to_dsn_capable_peer(inst, peers):
    _, capable, _ = peers
    inst.cli("alias", "add", "relay2@example.test", "dora@yes.dsn.test")
    qid = send(inst, [("relay2@example.test", ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;dora+2Bx@old.example"])],
               mail_params=["RET=HDRS", "ENVID=env+3Dpass"], subject="passed on")
    log = inst.wait_log(qid, r"removed")
    rcpt = [a for v, a in capable.lines if v == "RCPT" and "dora@yes.dsn.test" in a]
    assert len(rcpt) == 1
    assert "NOTIFY=SUCCESS,DELAY" in rcpt[0] and "ORCPT=rfc822;dora+2Bx@old.example" in rcpt[0]
    idx = capable.lines.index(("RCPT", rcpt[0]))
    verb, mail = capable.lines[idx - 1]
    assert verb == "MAIL" and "RET=HDRS" in mail and "ENVID=env+3Dpass" in mail
    # the next hop notifies from now on: no "relayed" notice from us
    assert " dsn " not in log
    time.sleep(1.0)
    assert inst.messages("bob@example.test") == []


def test_ret_full_returns_the_whole_message(inst, peers):
    inst.cli("alias", "add", "full@example.test", "perm-full@no.dsn.test")
    send(inst, [("full@example.test", [])], mail_params=["RET=FULL"], subject="return all of it",
         body="the body line that comes back\r\n")
    msg, parts, _, rcpts = notice(inst.wait_messages("bob@example.test", 1)[0])
    assert rcpts[0]["Action"] == "failed" and rcpts[0]["Status"] == "5.1.1"
    assert parts[2].get_content_type() == "message/rfc822"
    inner = parts[2].get_payload()[0]
    assert inner["Subject"] == "return all of it"
    assert "the body line that comes back" in inner.get_payload()


def test_ret_hdrs_returns_only_the_header(inst, peers):
    inst.cli("alias", "add", "hdrs@example.test", "perm-hdrs@no.dsn.test")
    send(inst, [("hdrs@example.test", [])], mail_params=["RET=HDRS"], subject="header only",
         body="a body line that must not come back\r\n")
    raw = inst.wait_messages("bob@example.test", 1)[0]
    msg, parts, _, rcpts = notice(raw)
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert "Subject: header only" in parts[2].get_payload()
    assert b"must not come back" not in raw


def test_long_remote_reply_is_folded_not_cut(inst, peers):
    """A 2.5 KB remote reply comes back whole, in lines no longer than RFC 5322 allows."""
    inst.cli("alias", "add", "long@example.test", "longperm@no.dsn.test")
    send(inst, [("long@example.test", [])], subject="long refusal")
    raw = inst.wait_messages("bob@example.test", 1)[0]
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    _, parts, _, rcpts = notice(raw)
    diag = rcpts[0]["Diagnostic-Code"]
    assert diag.startswith("smtp; 550-5.1.1 line 0") and "the last line of a long refusal" in diag
    assert "the last line of a long refusal" in parts[0].get_content()


def test_several_failures_in_one_run_give_one_notice(inst, peers):
    """Two recipients (one an alias of two addresses) fail in the same run: one notice lists all three."""
    inst.cli("alias", "add", "two@example.test", "perm-a@no.dsn.test", "perm-b@no.dsn.test")
    inst.cli("alias", "add", "three@example.test", "perm-c@yes.dsn.test")
    qid = send(inst, [("two@example.test", []), ("three@example.test", ["ORCPT=rfc822;three@example.test"])],
               subject="three failures")
    inst.wait_log(qid, r"removed")
    inst.wait_messages("bob@example.test", 1)
    time.sleep(1.0)
    msgs = inst.messages("bob@example.test")
    assert len(msgs) == 1
    msg, parts, _, rcpts = notice(msgs[0])
    assert sorted(r["Final-Recipient"] for r in rcpts) == ["rfc822; perm-a@no.dsn.test",
                                                           "rfc822; perm-b@no.dsn.test",
                                                           "rfc822; perm-c@yes.dsn.test"]
    assert all(r["Action"] == "failed" and r["Status"] == "5.1.1" for r in rcpts)
    text = parts[0].get_content()
    assert all(a in text for a in ("perm-a@no.dsn.test", "perm-b@no.dsn.test", "perm-c@yes.dsn.test"))


def test_delay_warning_only_when_asked(pochta_factory, peers):
    """delay_warning = 1s: NOTIFY=FAILURE gets no delay warning; NOTIFY=DELAY gets one."""
    inst = pochta_factory(remote_smtp_port=str(peers[0]), retry_min="1s", retry_max="1s",
                          remote_timeout="10s", delay_warning="1s")
    inst.cli("alias", "add", "slowf@example.test", "slow-f@no.dsn.test")
    inst.cli("alias", "add", "slowd@example.test", "slow-d@no.dsn.test")
    q1 = send(inst, [("slowf@example.test", ["NOTIFY=FAILURE"])], subject="no warning")
    q2 = send(inst, [("slowd@example.test", ["NOTIFY=DELAY"])], subject="warning")
    _, _, _, rcpts = notice(inst.wait_messages("bob@example.test", 1)[0])
    assert rcpts[0]["Action"] == "delayed" and rcpts[0]["Final-Recipient"] == "rfc822; slowd@example.test"
    assert "slow-d@no.dsn.test" in rcpts[0]["Diagnostic-Code"]
    inst.wait_log(q1, r"(?s)(deferred.*){3}")
    inst.wait_log(q2, r"(?s)(deferred.*){3}")
    assert " dsn " not in inst.cli("log", q1).stdout
    assert len(inst.messages("bob@example.test")) == 1


def test_parameters_survive_a_restart(pochta_factory, peers):
    """The DSN parameters are read back from the queue file: deferred once, the daemon restarts,
    and the notice after the retry still carries NOTIFY, ENVID and ORCPT."""
    inst = pochta_factory(remote_smtp_port=str(peers[0]), retry_min="2s", retry_max="2s", remote_timeout="10s")
    inst.cli("alias", "add", "later@example.test", "once-r@no.dsn.test")
    qid = send(inst, [("later@example.test", ["NOTIFY=SUCCESS", "ORCPT=rfc822;later+2Bx@example.test"])],
               mail_params=["ENVID=restart-1", "RET=HDRS"], subject="across a restart")
    inst.wait_log(qid, r"deferred")
    inst.stop()
    inst.start()
    msg, parts, per_msg, rcpts = notice(inst.wait_messages("bob@example.test", 1)[0])
    assert per_msg["Original-Envelope-Id"] == "restart-1"
    assert rcpts[0]["Action"] == "relayed" and rcpts[0]["Final-Recipient"] == "rfc822; once-r@no.dsn.test"
    assert rcpts[0]["Original-Recipient"] == "rfc822; later+x@example.test"
    assert parts[2].get_content_type() == "text/rfc822-headers"
    inst.wait_log(qid, r"removed")
