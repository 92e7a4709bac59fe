"""Scripted SMTP dialogs from another server's test suite
(../shared/conformance/smtp/chasquid-dialogs/*.cmy), run against the real
pochtad. Reply texts are that server's choice: we compare reply codes.

Where pochta answers differently on purpose, the difference is listed in
DEVIATIONS with the code pochta gives and why; the test then asserts
pochta's code, so a deviation is checked, not skipped.

The auth_*.cmy dialogs exercise SMTP AUTH: their ports are mapped to ours
(1025 -> port 25, 1587 -> submission with STARTTLS, 1465 -> submission over
implicit TLS), and their user logs in with their password.
"""
import glob
import os
import re

import pytest

from pochta_instance import PochtaInstance
from smtpwire import Wire

SHARED = os.environ.get("POCHTA_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
DIALOGS = os.path.join(SHARED, "conformance", "smtp", "chasquid-dialogs")

# (dialog, regular expression for the whole command sent) -> (pochta's code, why)
DEVIATIONS = {
    ("bad_data.cmy", r"\."): (250, "pochta does not judge header syntax at SMTP time; a line without a "
                                 "colon starts the body (RFC 5322 allows no such line in headers, but "
                                 "refusing it would lose mail from broken senders for no safety gain)"),
    ("bad_mail_from.cmy", "MAIL (FROM:|LALA: <>)"): (501, "a known verb with an empty or malformed argument "
                                                          "is a syntax error in the parameters (501, "
                                                          "RFC 5321 4.2.3), not an unknown command (500)"),
    ("bad_rcpt_to.cmy", "RCPT (TO:|LALA: <>)"): (501, "as above: 501 for a missing or malformed path"),
    ("bad_rcpt_to.cmy", "RCPT TO:<henry\u2163@testserver>"): (553, "a UTF-8 address in a transaction "
                                                                 "opened without SMTPUTF8 gets 553 5.6.7 "
                                                                 "(RFC 6531 3.5, RFC 5248)"),
    ("line_too_long.cmy", r"HELO (aaaaaaaaa1)+"): (500, "an overlong command line gets 500 5.5.2 and "
                                                              "the session goes on (RFC 5321 4.5.3.1.4)"),
    ("auth_multi_dialog.cmy", "AUTH SOMETHINGELSE"): (504, "an unsupported SASL mechanism is 504 5.5.4 "
                                                           "(RFC 4954 4 and 6), not 534"),
}

# their listener ports -> (our instance attribute, implicit TLS)
PORTS = {"1025": ("port", False), "1587": ("submission_port", False), "1465": ("submissions_port", True)}


def parse_dialog(path):
    steps = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line.startswith("c "):
                continue
            m = re.match(r"^c (\S+) ?(.*)$", line)
            steps.append((m.group(1), m.group(2)))
    return steps


DIALOG_FILES = sorted(glob.glob(os.path.join(DIALOGS, "*.cmy")))


@pytest.fixture(scope="module")
def testserver(tmp_path_factory, dns_server):
    inst = PochtaInstance(tmp_path_factory.mktemp("chasquid"), dns=dns_server,
                          hostname="testserver", domain="testserver")
    inst.set("max_message_size", "1M")  # the dialogs' server runs with max_data_size_mb: 1
    inst.set("max_errors", "10")
    inst.add_user("user@testserver", password="secretpassword")  # the auth_*.cmy dialogs log in
    inst.start()
    yield inst
    inst.stop()


def expected_code(name, last_sent, spec):
    for (dname, pattern), (code, _) in DEVIATIONS.items():
        if dname == name and re.fullmatch(pattern, last_sent or ""):
            return code
    return int(spec.split()[0])


@pytest.mark.parametrize("path", DIALOG_FILES, ids=os.path.basename)
def test_dialog(testserver, path):
    name = os.path.basename(path)
    w, last_sent, checked = None, None, 0
    for op, arg in parse_dialog(path):
        if op in ("tcp_connect", "tls_connect"):
            if w:
                w.close()
            attr, tls = PORTS[arg.rsplit(":", 1)[1]]
            w = Wire(getattr(testserver, attr), tls=tls)
            last_sent = None
        elif op == "close":
            w.close()
            w = None
        elif op == "->":
            w.send(arg + "\r\n")
            last_sent = arg
        elif op == "~>":
            # raw bytes, given as a Python string expression in the dialog file
            w.send(eval(arg, {"__builtins__": {}}).encode())
        elif op in ("<~", "<-", "<..."):
            r = w.reply()
            want = expected_code(name, last_sent, arg)
            assert r.code == want, f"{name}: after {last_sent!r} got {r}, want {want}"
            checked += 1
    if w:
        w.close()
    assert checked > 0
    verify = path + ".verify"
    if os.path.exists(verify):
        with open(verify, "rb") as f:
            want_body = f.read().replace(b"\n", b"\r\n")
        testserver.wait_message_matching("user@testserver", lambda m: m.endswith(want_body))
