"""Mailbox quotas (Maildir++ maildirsize), disabled mailboxes, POP-before-SMTP,
and Dovecot reading the same Maildir: real pochtad, real SMTP and POP3
clients, real doveadm. Each test names the behaviour it checks."""
import math
import os
import poplib
import pwd
import smtplib
import subprocess
import time

import pytest

from pop3util import PASSWORD, deliver, login, pop3_instance
from smtpwire import Wire

ALICE = "alice@example.test"


def rcpt(inst, to, source=None):
    """The reply to RCPT TO:<to> in a fresh session (no message is sent)."""
    w = Wire(inst.port, source=source)
    try:
        w.reply()
        w.cmd("EHLO client.test")
        w.cmd("MAIL FROM:<carol@good.sender.test>")
        return w.cmd(f"RCPT TO:<{to}>")
    finally:
        w.close()


def wait_maildirsize(inst, address, messages, timeout=20.0):
    """Maildir++ updates maildirsize just after the message file appears: wait for it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if maildirsize(inst, address)[2] == messages:
                return
        except (FileNotFoundError, IndexError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"maildirsize of {address} never counted {messages} messages")


def maildirsize(inst, address):
    with open(os.path.join(inst.maildir(address), "maildirsize")) as f:
        lines = f.read().splitlines()
    total = [sum(int(l.split()[k]) for l in lines[1:]) for k in (0, 1)]
    return lines[0], total[0], total[1]


def test_full_mailbox_refused_at_rcpt_with_452_then_free_after_pop3_delete(pochta_factory):
    inst = pop3_instance(pochta_factory)
    inst.cli("user", "quota", ALICE, "10k")
    # taken: the mailbox was under its limit, and the message crosses it by less than
    # the 10% grace Dovecot also allows
    deliver(inst, ALICE, "big", ("x" * 98 + "\r\n") * 100)
    wait_maildirsize(inst, ALICE, 1)
    r = rcpt(inst, ALICE)
    assert (r.code, r.enhanced) == (452, "4.2.2") and "Mailbox full" in r.text
    assert rcpt(inst, "bob@example.test").code == 250
    definition, nbytes, count = maildirsize(inst, ALICE)
    assert definition == "10240S" and count == 1 and 10240 <= nbytes <= 11264
    assert nbytes == os.path.getsize(os.path.join(inst.maildir(ALICE), "new",
                                                  os.listdir(os.path.join(inst.maildir(ALICE), "new"))[0]))
    out = inst.cli("user", "quota", ALICE).stdout
    assert f"{nbytes} bytes of 10240, 1 messages of unlimited" in out
    p = login(inst)
    p.dele(1)
    p.quit()
    assert maildirsize(inst, ALICE)[1:] == (0, 0)  # POP3 deletion kept maildirsize
    assert rcpt(inst, ALICE).code == 250


def test_message_count_quota_and_permanent_reply_when_configured(pochta_factory):
    inst = pop3_instance(pochta_factory, quota_full_reply="reject")
    inst.cli("user", "quota", ALICE, "none", "--messages", "1")
    deliver(inst, ALICE, "one")
    wait_maildirsize(inst, ALICE, 1)
    r = rcpt(inst, ALICE)
    assert (r.code, r.enhanced) == (552, "5.2.2") and "Mailbox full" in r.text


def test_accepted_message_to_full_mailbox_is_deferred_not_lost(pochta_factory):
    inst = pop3_instance(pochta_factory)
    inst.cli("user", "quota", ALICE, "2k")
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        # RCPT passes (the mailbox is empty); the 4 KB message does not fit at delivery
        s.sendmail("carol@good.sender.test", [ALICE], "Subject: too big\r\n\r\n" + ("y" * 98 + "\r\n") * 40)
    deadline = time.time() + 20
    while "Mailbox full" not in inst.read_log() and time.time() < deadline:
        time.sleep(0.05)
    deferred = [l for l in inst.read_log().splitlines() if "event=deferred to=<alice@example.test>" in l]
    assert deferred and 'reason="Mailbox full' in deferred[0]
    assert inst.messages(ALICE) == []
    queued = os.listdir(os.path.join(inst.dir, "queue", "active"))
    assert len(queued) == 1  # still queued, to be retried (and bounced as 5.2.2 on expiry)


def test_full_mailbox_delivery_bounces_with_mailbox_full_on_expiry(pochta_factory):
    """Deferred for a full mailbox until queue_lifetime (its 60 s minimum) ends, then bounced
    to the (local) sender with status 5.2.2 and the reason, not the generic 4.4.7."""
    inst = pop3_instance(pochta_factory, queue_lifetime="60s", retry_min="5s", retry_max="10s")
    inst.cli("user", "quota", ALICE, "2k")
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.sendmail("bob@example.test", [ALICE], "From: bob@example.test\r\nSubject: too big\r\n\r\n"
                   + ("y" * 98 + "\r\n") * 40)
    dsn = inst.wait_messages("bob@example.test", 1, timeout=120)[0]
    assert b"Status: 5.2.2" in dsn and b"Mailbox full" in dsn and b"Final-Recipient: rfc822; alice@example.test" in dsn
    assert inst.messages(ALICE) == []
    deadline = time.time() + 20
    while os.listdir(os.path.join(inst.dir, "queue", "active")) and time.time() < deadline:
        time.sleep(0.1)
    assert os.listdir(os.path.join(inst.dir, "queue", "active")) == []


def test_disabled_mailbox_refused_at_rcpt_and_pop3_login(pochta_factory):
    inst = pop3_instance(pochta_factory)
    inst.cli("user", "disable", "bob@example.test")
    r = rcpt(inst, "bob@example.test")
    assert (r.code, r.enhanced) == (550, "5.2.1") and "disabled" in r.text
    with pytest.raises(poplib.error_proto, match=r"\[SYS/PERM\].*disabled"):
        login(inst, user="bob@example.test")
    assert "bob@example.test  disabled" in inst.cli("user", "list").stdout
    inst.cli("user", "enable", "bob@example.test")
    assert rcpt(inst, "bob@example.test").code == 250
    login(inst, user="bob@example.test").quit()


def test_pop_before_smtp_window_opens_and_closes(pochta_factory):
    inst = pop3_instance(pochta_factory, pop_before_smtp="3s")
    far = "dave@elsewhere.test"
    r = rcpt(inst, far, source="127.0.0.120")
    assert (r.code, r.enhanced) == (554, "5.7.1")
    login(inst, source="127.0.0.120").quit()
    assert rcpt(inst, far, source="127.0.0.120").code == 250
    assert rcpt(inst, far, source="127.0.0.121").code == 554  # only the address that logged in
    deadline = time.time() + 15
    while rcpt(inst, far, source="127.0.0.120").code == 250:
        assert time.time() < deadline, "POP-before-SMTP window did not close"
        time.sleep(0.2)
    assert rcpt(inst, far, source="127.0.0.120").code == 554


def test_pop_before_smtp_off_by_default(pochta_factory):
    inst = pop3_instance(pochta_factory)
    login(inst, source="127.0.0.122").quit()
    assert rcpt(inst, "dave@elsewhere.test", source="127.0.0.122").code == 554


def dovecot(inst, tmp_path, address, *args):
    """doveadm on a throwaway config: the same Maildir, Maildir++ quota with
    the limits pochta has. Dovecot never gives mail access to root, so the
    Maildir belongs to the dovecot user for the test (pochtad runs as root)."""
    local, domain = address.split("@")
    run = tmp_path / "dovecot-run"
    run.mkdir(exist_ok=True)
    conf = tmp_path / "dovecot.conf"
    conf.write_text(
        f"base_dir = {run}\nstate_dir = {run}\nlog_path = {tmp_path}/dovecot.log\nssl = no\n"
        f"mail_location = maildir:{inst.maildir(address)}\n"
        "mail_uid = dovecot\nmail_gid = dovecot\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"
        "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n"
        "  quota_rule = *:storage=1M:messages=100\n}\n")
    subprocess.run(["chown", "-R", "dovecot:dovecot", inst.maildir(address)], check=True)
    d = os.path.dirname(inst.maildir(address))
    while d != "/":  # let the dovecot user reach the Maildir (search permission only)
        os.chmod(d, os.stat(d).st_mode | 0o001)
        d = os.path.dirname(d)
    env = dict(os.environ, HOME=inst.maildir(address), USER=local)
    r = subprocess.run(["doveadm", "-c", str(conf), "-f", "tab", *args], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return [l.split("\t") for l in r.stdout.splitlines()[1:]]


def test_dovecot_sees_same_messages_quota_and_uids(pochta_factory, tmp_path):
    pwd.getpwnam("dovecot")  # dovecot-core (scripts/deps.sh) creates this user
    inst = pop3_instance(pochta_factory)
    inst.cli("user", "quota", ALICE, "1M", "--messages", "100")
    for n in range(3):
        deliver(inst, ALICE, f"msg{n}", f"Body {n}.\r\n")
    wait_maildirsize(inst, ALICE, 3)
    p = login(inst)
    p.dele(2)
    p.quit()
    definition, nbytes, count = maildirsize(inst, ALICE)
    assert (definition, count) == ("1048576S,100C", 2)
    # Dovecot reads our maildirsize: same usage
    quota = {row[1]: int(row[2]) for row in dovecot(inst, tmp_path, ALICE, "quota", "get")}
    assert quota == {"STORAGE": math.ceil(nbytes / 1024), "MESSAGE": 2}
    # Dovecot's own recount from the files agrees with ours byte for byte
    dovecot(inst, tmp_path, ALICE, "quota", "recalc")
    assert maildirsize(inst, ALICE) == ("1048576S,100C", nbytes, 2)
    subjects = sorted(row[1] for row in dovecot(inst, tmp_path, ALICE, "fetch", "uid hdr.subject",
                                                "mailbox", "INBOX", "ALL"))
    assert subjects == ["msg0", "msg2"]
    p = login(inst)
    uids_before = [l.split()[1] for l in p.uidl()[1]]
    p.quit()
    # Dovecot renames the files to add flags (":2,S"): POP3 UIDs stay the same
    dovecot(inst, tmp_path, ALICE, "flags", "add", "\\Seen", "mailbox", "INBOX", "ALL")
    names = [n for sub in ("new", "cur") for n in os.listdir(os.path.join(inst.maildir(ALICE), sub))]
    assert len(names) == 2 and all(n.endswith(":2,S") for n in names)
    p = login(inst)
    assert [l.split()[1] for l in p.uidl()[1]] == uids_before
    assert p.stat()[0] == 2
    p.quit()
