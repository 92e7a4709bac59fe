"""Sender authentication end to end: a real pochtad, the real NSD serving tests/zones/auth.test,
quar.test, mon.test and strict.test, messages signed by an independent DKIM implementation
(python3-dkim) with the test-only keys in tests/fixtures/dkim whose public halves those zones
publish. Clients connect from 127.0.0.41 (the server auth.test's SPF record lists) or 127.0.0.42
(a stranger, e.g. a mailing list or forwarder).

Organisational domains: .test is not on the public suffix list; libpsl applies the list's default
rule ("*": an unlisted TLD is itself a public suffix), so news.auth.test belongs to auth.test exactly
as news.example.com belongs to example.com. tests/unit/auth/test_authres.c checks that rule directly.
"""
import base64
import os
import sqlite3
import time

import dkim
import pytest

from pochta_instance import PochtaInstance
from smtpwire import Wire

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "dkim")
AUTHORISED, STRANGER = "127.0.0.41", "127.0.0.42"
ENFORCE = {"spf_fail_action": "reject", "spf_temperror_action": "defer", "dmarc_policy": "enforce",
           "dmarc_temperror_action": "defer"}


def rsa_key():
    with open(os.path.join(FIXTURES, "test-only-rsa2048.pem"), "rb") as f:
        return f.read(), b"rsa-sha256"


def ed_key():
    with open(os.path.join(FIXTURES, "test-only-ed25519.seed"), "rb") as f:
        return f.read().strip(), b"ed25519-sha256"


def message(from_addr, subject, extra=""):
    return (f"From: Sender <{from_addr}>\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
            f"Date: Mon, 23 Nov 2026 03:00:00 +0000\r\nMessage-ID: <{subject}@auth.test>\r\n{extra}"
            f"\r\nBody of {subject}.\r\n").encode()


def signed(msg, domain, selector, key=rsa_key):
    priv, alg = key()
    sig = dkim.sign(msg, selector.encode(), domain.encode(), priv, signature_algorithm=alg,
                    canonicalize=(b"relaxed", b"relaxed"))
    return sig + msg


def transact(inst, source, helo, mail_from, data=None, rcpt="alice@example.test"):
    """One SMTP transaction; returns the replies (MAIL, RCPT or None, DATA end or None)."""
    w = Wire(inst.port, source=source)
    try:
        assert w.reply().code == 220
        assert w.cmd(f"EHLO {helo}").code == 250
        mail = w.cmd(f"MAIL FROM:<{mail_from}>")
        if mail.code != 250:
            return mail, None, None
        r = w.cmd(f"RCPT TO:<{rcpt}>")
        assert r.code == 250, r
        assert w.cmd("DATA").code == 354
        w.send(data + b".\r\n")
        return mail, r, w.reply()
    finally:
        w.close()


def header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode()


def junk(inst, address):
    new = os.path.join(inst.maildir(address), ".Junk", "new")
    if not os.path.isdir(new):
        return []
    return [open(os.path.join(new, n), "rb").read() for n in sorted(os.listdir(new))]


def wait_junk(inst, address, predicate, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in junk(inst, address):
            if predicate(m):
                return m
        time.sleep(0.05)
    raise AssertionError(f"no matching message in {address}'s Junk folder")


def with_subject(subject):
    return lambda m: f"Subject: {subject}\r\n".encode() in m


@pytest.fixture(scope="module")
def mx(tmp_path_factory, dns_server):
    inst = PochtaInstance(tmp_path_factory.mktemp("auth"), dns=dns_server)
    for k, v in ENFORCE.items():
        inst.set(k, v)
    inst.add_user("alice@example.test")
    inst.start()
    yield inst
    inst.stop()


# --- SPF at MAIL FROM ---------------------------------------------------------------------------

def test_spf_pass_gives_received_spf_and_authentication_results_on_top(mx):
    mail, _, end = transact(mx, AUTHORISED, "mta.auth.test", "a@auth.test", message("a@auth.test", "spfpass"))
    assert mail.code == 250 and end.code == 250, (mail, end)
    msg = mx.wait_message_matching("alice@example.test", with_subject("spfpass"))
    head = header_block(msg).split("\r\n")
    # Return-Path and Delivered-To come from delivery; then ours, newest first.
    assert head[2] == "Authentication-Results: mx.example.test;"
    ar = header_block(msg).split("Received-SPF:")[0]
    assert "spf=pass (ip4:127.0.0.41) smtp.mailfrom=a@auth.test" in ar
    assert "spf=none smtp.helo=mta.auth.test" in ar  # mta.auth.test publishes no SPF record
    assert "dkim=none" in ar
    assert "dmarc=pass (p=reject dis=none) header.from=auth.test" in ar
    spf_line = [l for l in head if l.startswith("Received-SPF:")][0]
    assert spf_line.startswith("Received-SPF: pass (")
    assert "client-ip=127.0.0.41;" in spf_line and 'envelope-from="a@auth.test";' in spf_line
    order = [i for i, l in enumerate(head) if l.startswith(("Authentication-Results:", "Received-SPF:", "Received:"))]
    assert [head[i].split(":")[0] for i in order[:3]] == ["Authentication-Results", "Received-SPF", "Received"]


def test_spf_fail_is_refused_at_mail_from_with_5_7_23(mx):
    mail, _, _ = transact(mx, STRANGER, "client.example", "a@auth.test")
    assert mail.code == 550 and mail.enhanced == "5.7.23", mail
    assert "SPF check of sender <a@auth.test> failed" in mail.text


def test_spf_fail_reply_carries_the_domains_explanation(mx):
    mail, _, _ = transact(mx, STRANGER, "client.example", "x@explained.auth.test")
    assert mail.code == 550 and mail.enhanced == "5.7.23", mail
    assert "Only mta.auth.test sends mail for explained.auth.test; you are 127.0.0.42" in mail.text


def test_helo_identity_fail_is_refused(mx):
    mail, _, _ = transact(mx, STRANGER, "auth.test", "x@neutral.auth.test")
    assert mail.code == 550 and mail.enhanced == "5.7.23", mail
    assert "HELO name auth.test" in mail.text


def test_spf_softfail_is_accepted_and_marked(mx):
    mail, _, end = transact(mx, STRANGER, "client.example", "x@soft.auth.test",
                            message("carol@good.sender.test", "softfail"))
    assert mail.code == 250 and end.code == 250
    msg = mx.wait_message_matching("alice@example.test", with_subject("softfail"))
    assert "\r\nReceived-SPF: softfail (" in header_block(msg)
    assert "spf=softfail (~all) smtp.mailfrom=x@soft.auth.test" in header_block(msg)


@pytest.mark.parametrize("sender", ["x@tempfail.auth.test", "x@broken.test"])
def test_spf_dns_failure_is_a_temporary_reply_never_permanent(mx, sender):
    mail, _, _ = transact(mx, AUTHORISED, "mta.auth.test", sender)
    assert mail.code == 451 and mail.enhanced == "4.4.3", mail


# --- DKIM and DMARC at the end of data -------------------------------------------------------------

@pytest.mark.parametrize("selector,key", [("rsa", rsa_key), ("ed", ed_key)], ids=["rsa", "ed25519"])
def test_dkim_pass_aligned_gives_dmarc_pass_from_any_server(mx, selector, key):
    subj = f"dkimpass{selector}"
    data = signed(message("a@auth.test", subj), "auth.test", selector, key)
    mail, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", data)
    assert mail.code == 250 and end.code == 250, end
    head = header_block(mx.wait_message_matching("alice@example.test", with_subject(subj)))
    assert f"dkim=pass header.d=auth.test header.s={selector} header.a={key()[1].decode()}" in head
    assert "spf=neutral" in head
    assert "dmarc=pass (p=reject dis=none) header.from=auth.test" in head


def test_dkim_fail_on_tampered_body_is_rejected_per_dmarc(mx):
    data = signed(message("a@auth.test", "tampered"), "auth.test", "rsa").replace(b"Body of", b"Bodies of")
    mail, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", data)
    assert mail.code == 250
    assert end.code == 550 and end.enhanced == "5.7.1", end
    assert "rejected per DMARC policy of auth.test" in end.text


def test_dkim_without_key_is_permerror_and_p_none_only_marks(mx):
    data = signed(message("a@mon.test", "nokey"), "mon.test", "nokey")
    mail, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", data)
    assert end.code == 250, end
    head = header_block(mx.wait_message_matching("alice@example.test", with_subject("nokey")))
    assert "dkim=permerror" in head and "header.d=mon.test header.s=nokey" in head
    assert "dmarc=fail (p=none dis=none) header.from=mon.test" in head


def test_revoked_key_fails_and_p_reject_rejects(mx):
    data = signed(message("a@auth.test", "revoked"), "auth.test", "revoked")
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", data)
    assert end.code == 550 and end.enhanced == "5.7.1", end


def test_dmarc_quarantine_delivers_to_junk_folder(mx):
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", message("a@quar.test", "quar"))
    assert end.code == 250, end
    msg = wait_junk(mx, "alice@example.test", with_subject("quar"))
    assert "dmarc=fail (p=quarantine dis=quarantine) header.from=quar.test" in header_block(msg)
    assert os.path.exists(os.path.join(mx.maildir("alice@example.test"), ".Junk", "maildirfolder"))
    assert not any(with_subject("quar")(m) for m in mx.messages("alice@example.test"))


def test_subdomain_without_record_uses_org_domain_sp(mx):
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test",
                         message("a@news.auth.test", "subdomain"))
    assert end.code == 250, end
    msg = wait_junk(mx, "alice@example.test", with_subject("subdomain"))
    assert "dmarc=fail (p=quarantine dis=quarantine) header.from=news.auth.test" in header_block(msg)


def test_nonexistent_subdomain_gets_np(mx):
    # ghost.auth.test does not exist (NXDOMAIN): np=reject applies instead of sp=quarantine (RFC 9091).
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", message("a@ghost.auth.test", "np"))
    assert end.code == 550 and "rejected per DMARC policy of auth.test" in end.text, end


def test_relaxed_alignment_subdomain_from_with_org_domain_signature_passes(mx):
    data = signed(message("a@news.auth.test", "relaxed"), "auth.test", "rsa")
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", data)
    assert end.code == 250, end
    head = header_block(mx.wait_message_matching("alice@example.test", with_subject("relaxed")))
    assert "dmarc=pass" in head and "header.from=news.auth.test" in head


def test_strict_alignment_refuses_subdomain_identifiers(mx):
    # SPF passes for mail.strict.test and DKIM passes for d=mail.strict.test, but adkim=s aspf=s
    # want exactly strict.test.
    data = signed(message("a@strict.test", "strict"), "mail.strict.test", "rsa")
    mail, _, end = transact(mx, AUTHORISED, "mta.auth.test", "x@mail.strict.test", data)
    assert mail.code == 250
    assert end.code == 550 and "rejected per DMARC policy of strict.test" in end.text, end


def test_dmarc_dns_failure_is_temporary(mx):
    # The key lookup fails (CNAME into a zone that is not served): DKIM temperror, nothing else aligned.
    data = signed(message("a@auth.test", "keytemp"), "auth.test", "broken")
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", data)
    assert end.code == 451 and end.enhanced == "4.4.3", end
    # The policy lookup itself fails.
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test",
                         message("a@broken.test", "dmarctemp"))
    assert end.code == 451 and end.enhanced == "4.4.3", end


@pytest.mark.parametrize("from_field", ["a@quar.test, ceo@auth.test", "a@quar.test\r\nFrom: ceo@auth.test"],
                         ids=["two-domains", "two-fields"])
def test_from_with_several_domains_cannot_dodge_dmarc(mx, from_field):
    data = message("a@quar.test", "multi").replace(b"From: Sender <a@quar.test>", f"From: {from_field}".encode())
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", data)
    assert end.code == 550 and end.enhanced == "5.7.1", end
    assert "From" in end.text and "RFC 7489 6.6.1" in end.text


def test_padding_the_header_past_our_limits_cannot_dodge_dmarc(mx):
    pad = "".join(f"X-Pad-{i}: x\r\n" for i in range(1200))
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test",
                         message("ceo@auth.test", "padded", pad))
    assert end.code == 550 and end.enhanced == "5.7.1", end


def test_message_without_from_is_accepted_with_dmarc_none(mx):
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test",
                         b"Subject: nofrom\r\n\r\nno From here\r\n")
    assert end.code == 250, end
    head = header_block(mx.wait_message_matching("alice@example.test", with_subject("nofrom")))
    assert "dmarc=none\r\n" in head or head.rstrip().endswith("dmarc=none")


def test_forged_authentication_results_claiming_our_id_are_removed(mx):
    extra = ("Authentication-Results: mx.example.test; dkim=pass header.d=auth.test\r\n"
             "Authentication-Results: other.example; spf=pass smtp.mailfrom=a@auth.test\r\n")
    _, _, end = transact(mx, AUTHORISED, "mta.auth.test", "a@auth.test", message("a@auth.test", "forged", extra))
    assert end.code == 250
    head = header_block(mx.wait_message_matching("alice@example.test", with_subject("forged")))
    assert head.count("Authentication-Results: mx.example.test") == 1
    assert "dkim=pass header.d=auth.test" not in head
    assert "Authentication-Results: other.example; spf=pass" in head


def test_dmarc_results_are_stored_for_aggregate_reports(mx):
    data = signed(message("a@auth.test", "stored"), "auth.test", "rsa")
    _, _, end = transact(mx, STRANGER, "list.example", "bounce@neutral.auth.test", data)
    assert end.code == 250
    qid = end.text.rsplit(" ", 1)[1]
    db = os.path.join(mx.dir, "pochta.db")
    deadline = time.time() + 10
    while time.time() < deadline:
        with sqlite3.connect(db) as c:
            rows = c.execute("SELECT source_ip, header_from, policy_domain, p, result, disposition, dkim_aligned,"
                             " spf_aligned, spf_result, dkim, rua FROM dmarc_results WHERE id = ?", (qid,)).fetchall()
        if rows:
            break
        time.sleep(0.05)
    assert rows == [(STRANGER, "auth.test", "auth.test", "reject", "pass", "none", 1, 0, "neutral",
                     "auth.test rsa pass", "mailto:dmarc@auth.test")]


# --- local overrides ---------------------------------------------------------------------------

def test_trusted_forwarder_is_never_refused_but_results_are_recorded(pochta_factory):
    inst = pochta_factory(auth_trusted_forwarders=STRANGER, **ENFORCE)
    mail, _, end = transact(inst, STRANGER, "forwarder.example", "a@auth.test", message("a@auth.test", "fwd"))
    assert mail.code == 250 and end.code == 250, (mail, end)
    head = header_block(inst.wait_message_matching("alice@example.test", with_subject("fwd")))
    assert "Received-SPF: fail" in head
    assert "dmarc=fail (p=reject dis=none override=trusted_forwarder) header.from=auth.test" in head


def test_monitor_mode_and_mark_only_spf_accept_everything(pochta_factory):
    inst = pochta_factory(dmarc_policy="monitor", spf_fail_action="mark")
    mail, _, end = transact(inst, STRANGER, "client.example", "a@auth.test", message("a@auth.test", "monitor"))
    assert mail.code == 250 and end.code == 250, (mail, end)
    head = header_block(inst.wait_message_matching("alice@example.test", with_subject("monitor")))
    assert "spf=fail" in head
    assert "dmarc=fail (p=reject dis=none override=local_policy)" in head


# --- the async steps inside the SMTP dialogue ---------------------------------------------------

def test_pipelined_commands_after_an_spf_refusal_are_answered_in_order(mx):
    w = Wire(mx.port, source=STRANGER)
    try:
        assert w.reply().code == 220
        assert w.cmd("EHLO client.example").code == 250
        w.send("MAIL FROM:<a@auth.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nQUIT\r\n")
        codes = [w.reply().code for _ in range(4)]
        assert codes == [550, 503, 503, 221], codes
    finally:
        w.close()


def test_bdat_message_goes_through_dkim_and_dmarc(mx):
    data = signed(message("a@auth.test", "bdat"), "auth.test", "rsa").replace(b"Body of", b"Bodies of")
    w = Wire(mx.port, source=STRANGER)
    try:
        assert w.reply().code == 220
        assert w.cmd("EHLO list.example").code == 250
        assert w.cmd("MAIL FROM:<bounce@neutral.auth.test>").code == 250
        assert w.cmd("RCPT TO:<alice@example.test>").code == 250
        half = len(data) // 2
        w.send(b"BDAT %d\r\n" % half + data[:half])
        assert w.reply().code == 250
        w.send(b"BDAT %d LAST\r\n" % (len(data) - half) + data[half:])
        end = w.reply()
        assert end.code == 550 and "rejected per DMARC policy of auth.test" in end.text, end
        ok = signed(message("a@auth.test", "bdatok"), "auth.test", "ed", ed_key)
        assert w.cmd("MAIL FROM:<bounce@neutral.auth.test>").code == 250
        assert w.cmd("RCPT TO:<alice@example.test>").code == 250
        w.send(b"BDAT %d LAST\r\n" % len(ok) + ok)
        assert w.reply().code == 250
    finally:
        w.close()
    head = header_block(mx.wait_message_matching("alice@example.test", with_subject("bdatok")))
    assert "dkim=pass header.d=auth.test header.s=ed" in head
