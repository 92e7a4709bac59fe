"""`pochta sendmail`: local programs hand a message to the queue the way
they call sendmail(1) (sendmail_path = "/usr/sbin/sendmail -t -i"), and the
real daemon delivers it, also when it was down at injection time."""
import os
import shutil
import subprocess
import tempfile

from pochta_instance import POCHTA, PochtaInstance


def sendmail(inst, args, message, argv0=None, env_conf=True):
    env = dict(os.environ)
    if env_conf:
        env["POCHTA_CONFIG"] = inst.conf
    cmd = [argv0 or POCHTA] + ([] if argv0 else ["sendmail"]) + args
    return subprocess.run(cmd, input=message, capture_output=True, env=env, timeout=60)


def test_sendmail_t_i_reads_recipients_and_drops_bcc(pochta):
    msg = (b"From: Web App <app@example.test>\n"
           b"To: alice@example.test\n"
           b"Bcc: bob@example.test\n"
           b"Subject: order 42\n"
           b"\n"
           b"line one\n"
           b".\n"
           b"still the body after a lone dot\n")
    r = sendmail(pochta, ["-t", "-i", "-f", "app@example.test"], msg)
    assert r.returncode == 0, r.stderr
    got = pochta.wait_messages("alice@example.test", 1)[0]
    assert b"Return-Path: <app@example.test>" in got
    assert b"Received: by mx.example.test (pochta sendmail, from userid" in got
    assert b"Message-ID: <" in got and b"\r\nDate: " in got
    assert b"Bcc:" not in got
    assert got.endswith(b"line one\r\n.\r\nstill the body after a lone dot\r\n")
    bob = pochta.wait_messages("bob@example.test", 1)[0]
    assert b"Subject: order 42" in bob and b"Bcc:" not in bob


def test_installed_as_sendmail_link(pochta, tmp_path):
    link = tmp_path / "sendmail"
    os.symlink(os.path.abspath(POCHTA), link)
    r = sendmail(pochta, ["-t", "-i"], b"To: bob@example.test\nSubject: via link\n\nhello\n", argv0=str(link))
    assert r.returncode == 0, r.stderr
    got = pochta.wait_messages("bob@example.test", 1)[0]
    assert b"Subject: via link" in got
    assert b"From: <root@mx.example.test>" in got or b"From: <" in got


def test_arguments_and_dot_end_without_i(pochta):
    r = sendmail(pochta, ["alice@example.test, bob@example.test"], b"Subject: dots\n\nfirst\n.\nnot sent\n")
    assert r.returncode == 0, r.stderr
    for who in ("alice@example.test", "bob@example.test"):
        got = pochta.wait_messages(who, 1)[0]
        assert got.endswith(b"first\r\n") and b"not sent" not in got


def test_usage_and_message_errors_use_sysexits(pochta):
    r = sendmail(pochta, ["-t"], b"Subject: nobody\n\nx\n")
    assert r.returncode == 64 and b"no recipients" in r.stderr
    r = sendmail(pochta, ["alice@example.test"], b"Subject: long\n\n" + b"x" * 1200 + b"\n")
    assert r.returncode == 65 and b"longer than 998" in r.stderr
    r = sendmail(pochta, ["-bs"], b"")
    assert r.returncode == 64
    r = sendmail(pochta, ["-C", "/nonexistent/pochta.conf", "alice@example.test"], b"x\n", env_conf=False)
    assert r.returncode == 78
    r = sendmail(pochta, ["bad address@"], b"x\n")
    assert r.returncode == 65 and b"bad recipient" in r.stderr


def test_dsn_options_n_r_v(pochta):
    """-N success -R hdrs -V ID: the delivery gets a success notice (RFC 3464) to the
    sender naming the envelope ID, with only the header returned."""
    import email
    from email import policy as email_policy
    msg = b"From: bob@example.test\nTo: alice@example.test\nSubject: dsn via sendmail\n\nbody text\n"
    r = sendmail(pochta, ["-i", "-f", "bob@example.test", "-N", "success, failure", "-R", "hdrs",
                          "-V", "ORDER-42", "alice@example.test"], msg)
    assert r.returncode == 0, r.stderr
    assert len(pochta.wait_messages("alice@example.test", 1)) == 1
    notice = email.message_from_bytes(pochta.wait_messages("bob@example.test", 1)[0], policy=email_policy.default)
    assert notice.get_content_type() == "multipart/report"
    parts = list(notice.iter_parts())
    status = parts[1].get_payload()
    assert status[0]["Original-Envelope-Id"] == "ORDER-42"
    assert status[1]["Action"] == "delivered" and status[1]["Final-Recipient"] == "rfc822; alice@example.test"
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert "Subject: dsn via sendmail" in parts[2].get_payload() and "body text" not in parts[2].get_payload()


def test_dsn_option_errors(pochta):
    """Bad -N/-R/-V values exit 64 with a reason; -V is limited on its xtext form, as MAIL ENVID= is."""
    for args, text in ((["-N", "sometimes"], b"NOTIFY must be"), (["-N", "never,success"], b"cannot be combined"),
                       (["-R", "body"], b"full or hdrs"), (["-V", "two words"], b"printable ASCII"),
                       (["-V", "x" * 101], b"1 to 100"), (["-V", "x" * 98 + "+"], b"1 to 100"),
                       (["-N", "suc cess"], b"blank inside a word"), (["-N", ",".join(["delay"] * 20)], b"too long")):
        r = sendmail(pochta, args + ["alice@example.test"], b"Subject: x\n\nx\n")
        assert r.returncode == 64 and text in r.stderr, (args, r.stderr)


def test_injected_while_daemon_down_is_delivered_at_start(pochta):
    pochta.stop()
    r = sendmail(pochta, ["-i", "-f", "<>", "alice@example.test"], b"Subject: offline\n\nqueued while down\n")
    assert r.returncode == 0, r.stderr
    assert pochta.messages("alice@example.test") == []
    pochta.start()
    got = pochta.wait_messages("alice@example.test", 1)[0]
    assert b"Return-Path: <>" in got and b"queued while down" in got


def test_program_running_as_another_user(dns_server):
    """A web application's user (here: nobody) may read pochta.conf but not
    the TLS key or the queue: it can still hand over mail (pickup/ is 1733)."""
    top = tempfile.mkdtemp(prefix="pochta-sendmail-")
    inst = None
    try:
        os.chmod(top, 0o755)
        inst = PochtaInstance(os.path.join(top, "p"), dns=dns_server)
        os.chmod(inst.dir, 0o755)
        os.chmod(inst.conf, 0o644)
        inst.add_user("alice@example.test")
        inst.start()
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            "env", f"POCHTA_CONFIG={inst.conf}", os.path.abspath(POCHTA), "sendmail", "-i",
                            "alice@example.test"],
                           input=b"Subject: from the web app\n\nhi\n", capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        got = inst.wait_messages("alice@example.test", 1)[0]
        assert b"Return-Path: <nobody@mx.example.test>" in got and b"from userid 65534" in got
        assert not os.listdir(os.path.join(inst.dir, "queue", "pickup"))
    finally:
        if inst:
            inst.stop()
        shutil.rmtree(top, ignore_errors=True)
