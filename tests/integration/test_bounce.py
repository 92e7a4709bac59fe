"""Bounce intelligence through the real `pochta` CLI (issue 7): `bounce parse
--json` on real bounces from ../shared/corpora/bounces, `explain` in both
languages, and the collector: `bounces collect` records bounces in the
instance's SQLite database, suppresses dead addresses after the configured
number of hard bounces (at once for userunknown/hostunknown), reads VERP
return paths, and `bounces list|show|export|check|clear` report on it."""
import json
import os
import subprocess

from pochta_instance import POCHTA, SANITIZER_MARKERS

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "corpora", "bounces")


def clean(r):
    """r, after checking the sanitizer build reported nothing."""
    for marker in SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    return r


def run(*args, input=None):
    return clean(subprocess.run([POCHTA, *args], capture_output=True, text=True, input=input, timeout=60))


def parse_json(path=None, data=None):
    r = run("bounce", "parse", "--json", path or "-", input=data)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def dsn(rcpt, status, diag, verp_to="alice@example.test"):
    """A minimal RFC 3464 report for rcpt."""
    return (f"From: MAILER-DAEMON@mx.remote.test\r\nTo: {verp_to}\r\nSubject: Undelivered Mail\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.remote.test\r\n\r\n"
            f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {status}\r\n"
            f"Diagnostic-Code: smtp; {diag}\r\n\r\n--b--\r\n")


def test_parse_json_rfc3464_and_free_text():
    out = parse_json(os.path.join(CORPUS, "lhost-postfix-41.eml"))
    assert out["kind"] == "dsn"
    [r] = out["recipients"]
    assert r["recipient"] == "kijitora@example.org"
    assert r["status"] == "5.0.0" and r["reply_code"] == "550"
    assert r["smtp_command"] == "DATA" and r["remote_mta"] == "r2.example.org"
    assert "Protocol violation" in r["diagnostic"] and r["hard_bounce"] is False
    assert out["original"]["subject"] == "Nyaan"
    assert out["original"]["message_id"].startswith("<") and "@" in out["original"]["message_id"]
    # qmail: free text, two recipients in the order the notice lists them
    out = parse_json(os.path.join(CORPUS, "lhost-qmail-02.eml"))
    assert [r["recipient"] for r in out["recipients"]] == ["userunknown@example.jp", "filtered@example.jp"]
    assert out["recipients"][0]["reason"] == "userunknown" and out["recipients"][0]["hard_bounce"] is True


def test_parse_not_a_bounce_and_autoreply_from_stdin():
    out = parse_json(data="From: bob@example.com\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nhello\r\n")
    assert out["recipients"] == [] and out["kind"] == "none"
    out = parse_json(os.path.join(CORPUS, "rfc3834-02.eml"))
    assert out["kind"] == "autoreply"
    assert [r["reason"] for r in out["recipients"]] == ["vacation"]
    r = run("bounce", "parse", "/nonexistent/file")
    assert r.returncode == 1 and "cannot open" in r.stderr
    assert run("bounce", "parse").returncode == 2


def test_explain_cli_both_languages():
    r = run("explain", "550 5.7.1 Email rejected per DMARC policy")
    assert r.returncode == 0
    assert "authfailure" in r.stdout and "DMARC" in r.stdout and "administrator" in r.stdout
    r = run("explain", "--lang", "ru", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
    assert r.returncode == 0 and "norelaying" in r.stdout and "пересыл" in r.stdout
    r = run("explain", "--json", "0x800CCC79")
    assert json.loads(r.stdout)["reason"] == "norelaying"
    assert json.loads(run("explain", "--json", "452 Space shortage, please try later").stdout)["reason"] == "systemfull"
    assert json.loads(run("explain", "--json", "Synthatically invalid HELO argument(s)").stdout)["case"] == "helo"
    assert run("explain").returncode == 2
    assert run("explain", "--lang", "de", "550 x").returncode == 2


def test_collect_counts_and_suppresses(pochta_factory):
    p = pochta_factory(start=False, bounce_suppress_after=2)
    bdir = p.dir

    def collect(msg, *extra):
        path = os.path.join(bdir, "bounce.eml")
        with open(path, "w") as f:
            f.write(msg)
        return clean(p.cli("bounces", "collect", *extra, path))

    # user unknown: suppressed at the first hard bounce
    out = collect(dsn("gone@remote.test", "5.1.1", "550 5.1.1 <gone@remote.test>: User unknown")).stdout
    assert "1 newly suppressed" in out
    r = p.cli("bounces", "check", "gone@remote.test", check=False)
    assert r.returncode == 1 and "userunknown" in r.stdout
    # a full mailbox is soft: counted, never suppressed
    for _ in range(3):
        collect(dsn("full@remote.test", "4.2.2", "452 4.2.2 Mailbox full"))
    assert p.cli("bounces", "check", "full@remote.test").returncode == 0
    # a hard bounce of another kind suppresses at the threshold (2 here)
    collect(dsn("moved@remote.test", "5.1.6", "550 5.1.6 address has moved"))
    assert p.cli("bounces", "check", "moved@remote.test").returncode == 0
    collect(dsn("moved@remote.test", "5.1.6", "550 5.1.6 address has moved"))
    assert p.cli("bounces", "check", "MOVED@remote.test", check=False).returncode == 1
    # an auto-reply is not a bounce
    collect("From: x@remote.test\r\nTo: alice@example.test\r\nSubject: Out of office\r\n"
            "Auto-Submitted: auto-replied\r\n\r\naway\r\n")
    assert "x@remote.test" not in p.cli("bounces", "list", "--all").stdout

    listing = p.cli("bounces", "list").stdout
    assert "gone@remote.test suppressed" in listing and "moved@remote.test suppressed" in listing
    assert "full@remote.test" not in listing
    assert "full@remote.test active hard=0 soft=3" in p.cli("bounces", "list", "--all").stdout
    show = p.cli("bounces", "show", "full@remote.test").stdout
    assert "soft bounces: 3" in show and "Mailbox full" in show and "reason=mailboxfull" in show
    exported = json.loads(p.cli("bounces", "export").stdout)
    by = {e["address"]: e for e in exported}
    assert by["gone@remote.test"]["suppressed"] is True and by["gone@remote.test"]["last_reason"] == "userunknown"
    assert by["full@remote.test"]["soft_bounces"] == 3 and by["full@remote.test"]["suppressed"] is False

    assert "cleared 1" in p.cli("bounces", "clear", "gone@remote.test").stdout
    assert p.cli("bounces", "check", "gone@remote.test").returncode == 0
    r = p.cli("bounces", "show", "gone@remote.test", check=False)
    assert r.returncode == 1 and "no bounces" in r.stderr
    p.cli("bounces", "clear", "--all")
    assert p.cli("bounces", "export").stdout.strip() == "[]"


def test_collect_reads_verp_return_path(pochta_factory):
    p = pochta_factory(start=False)
    path = os.path.join(p.dir, "verp.eml")
    # a notice that names no address: the VERP return path says which recipient bounced
    with open(path, "w") as f:
        f.write("From: MAILER-DAEMON@mx.remote.test\r\nTo: bounces+Q1A2B3=carl=remote.test@example.test\r\n"
                "Subject: Mail delivery failed\r\n\r\nThis message was created automatically by mail delivery"
                " software.\r\n\r\nA message that you sent could not be delivered.\r\n"
                "550 5.1.1 mailbox does not exist\r\n")
    out = p.cli("bounces", "collect", "--rcpt", "bounces+Q1A2B3=carl=remote.test@example.test", path).stdout
    assert "recorded 1" in out
    show = p.cli("bounces", "show", "carl@remote.test").stdout
    assert "queue_id=Q1A2B3" in show and "status=5.1.1" in show and "state: suppressed" in show
