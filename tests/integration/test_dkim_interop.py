"""DKIM interop with an independent implementation: Python `dkim` (dkimpy, Debian python3-dkim).

- keys from `pochta dkim keygen` + messages signed by `pochta dkim sign` verify in dkimpy, whose
  dnsfunc answers with the exact TXT record keygen printed (RSA and Ed25519);
- messages dkimpy signs (RSA and Ed25519, simple and relaxed header/body) verify with
  `pochta dkim verify --dns-file`;
- tampered body or header fails both ways.

Run: POCHTA_BUILD=build /usr/bin/python3 -m pytest -q tests/integration/test_dkim_interop.py
"""
import base64
import os
import re
import subprocess

import dkim
import nacl.signing
import pytest

BUILD = os.environ.get("POCHTA_BUILD", "/work/main/build")
POCHTA = os.path.join(BUILD, "pochta")
SHARED = os.environ.get("POCHTA_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))

MESSAGE = (b"From: Alice <alice@example.test>\r\n"
           b"To: Bob <bob@example.test>\r\n"
           b"Subject: interop   check\r\n"
           b"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
           b"Message-ID: <interop@example.test>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"\r\n"
           b"Hello Bob,  \r\n"
           b"\r\n"
           b"this message is signed.\r\n"
           b"\r\n")


def run(*args, stdin=None):
    r = subprocess.run([POCHTA, *args], input=stdin, capture_output=True, timeout=60)
    assert b"Sanitizer" not in r.stderr and b"runtime error" not in r.stderr, r.stderr
    return r


def tamper_body(msg):
    return msg.replace(b"this message is signed", b"this message is forged")


def tamper_header(msg):
    return msg.replace(b"Subject: interop", b"Subject: Interop")


@pytest.fixture(params=["rsa", "ed25519"])
def our_key(request, tmp_path):
    """(key path, selector, record name, TXT value) from `pochta dkim keygen`."""
    sel = "s" + request.param
    r = run("dkim", "keygen", "example.test", "--selector", sel, "--type", request.param, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    line = r.stdout.decode()
    m = re.match(r'^(\S+)\. IN TXT ((?:"[^"]*" ?)+)\n$', line)
    assert m, line
    parts = re.findall(r'"([^"]*)"', m.group(2))
    assert all(len(p) <= 255 for p in parts)
    key = tmp_path / f"example.test.{sel}.pem"
    assert (key.stat().st_mode & 0o777) == 0o600
    return str(key), sel, m.group(1), "".join(parts)


def test_we_sign_dkimpy_verifies(our_key, tmp_path):
    key, sel, name, txt = our_key
    src = tmp_path / "m.eml"
    src.write_bytes(MESSAGE)
    r = run("dkim", "sign", "--domain", "example.test", "--selector", sel, "--key", key, str(src))
    assert r.returncode == 0, r.stderr
    signed = r.stdout
    assert signed.endswith(MESSAGE)

    def dnsfunc(qname, timeout=5):
        assert qname.decode().rstrip(".") == name
        return txt.encode()

    assert dkim.verify(signed, dnsfunc=dnsfunc)
    assert not dkim.verify(tamper_body(signed), dnsfunc=dnsfunc)
    assert not dkim.verify(tamper_header(signed), dnsfunc=dnsfunc)
    # and our own verifier agrees
    dns = tmp_path / "dns.txt"
    dns.write_text(f"{name} TXT {txt}\n")
    out = tmp_path / "s.eml"
    out.write_bytes(signed)
    r = run("dkim", "verify", "--dns-file", str(dns), str(out))
    assert r.returncode == 0 and r.stdout.startswith(b"dkim=pass"), r.stdout


def rsa_key():
    priv = open(os.path.join(SHARED, "conformance/dkim/test.private"), "rb").read()
    txt = open(os.path.join(SHARED, "conformance/dkim/test.txt")).read().strip()
    return priv, txt, b"rsa-sha256"


def ed_key():
    seed = os.urandom(32)
    pub = nacl.signing.SigningKey(seed).verify_key.encode()
    txt = "v=DKIM1; k=ed25519; p=" + base64.b64encode(pub).decode()
    return base64.b64encode(seed), txt, b"ed25519-sha256"


@pytest.mark.parametrize("keyfn", [rsa_key, ed_key], ids=["rsa", "ed25519"])
@pytest.mark.parametrize("canon", [(b"simple", b"simple"), (b"relaxed", b"relaxed"), (b"relaxed", b"simple"),
                                   (b"simple", b"relaxed")], ids=lambda c: b"/".join(c).decode())
def test_dkimpy_signs_we_verify(keyfn, canon, tmp_path):
    priv, txt, alg = keyfn()
    sig = dkim.sign(MESSAGE, b"sel", b"example.test", priv, canonicalize=canon, signature_algorithm=alg)
    signed = sig + MESSAGE
    dns = tmp_path / "dns.txt"
    dns.write_text(f"sel._domainkey.example.test TXT {txt}\n")

    def verify(msg):
        f = tmp_path / "m.eml"
        f.write_bytes(msg)
        return run("dkim", "verify", "--dns-file", str(dns), str(f))

    r = verify(signed)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.decode().startswith("dkim=pass d=example.test s=sel a=" + alg.decode())
    for bad in (tamper_body(signed), tamper_header(signed)):
        r = verify(bad)
        assert r.returncode == 1
        assert r.stdout.startswith(b"dkim=fail"), r.stdout
    # also through stdin
    r = run("dkim", "verify", "--dns-file", str(dns), "-", stdin=signed)
    assert r.returncode == 0 and r.stdout.startswith(b"dkim=pass")


def test_tempfail_and_missing_key(tmp_path):
    priv, txt, alg = rsa_key()
    signed = dkim.sign(MESSAGE, b"sel", b"example.test", priv) + MESSAGE
    f = tmp_path / "m.eml"
    f.write_bytes(signed)
    dns = tmp_path / "dns.txt"
    dns.write_text("sel._domainkey.example.test TEMPFAIL\n")
    r = run("dkim", "verify", "--dns-file", str(dns), str(f))
    assert r.returncode == 1 and r.stdout.startswith(b"dkim=temperror"), r.stdout
    dns.write_text("# nothing\n")
    r = run("dkim", "verify", "--dns-file", str(dns), str(f))
    assert r.returncode == 1 and r.stdout.startswith(b"dkim=permerror"), r.stdout


@pytest.mark.parametrize("parallel", ["1", "16"])
def test_bench_verifies_every_message(our_key, parallel):
    """`pochta dkim bench` (bench/dkim_rate.sh) signs and verifies for real, beside the bare
    operations: it exits 1 if any signature or verification in flight failed, so its rates are
    of passing verifications."""
    key = our_key[0]
    r = run("dkim", "bench", "--key", key, "--size", "3000", "--seconds", "0.2", "--parallel", parallel)
    assert r.returncode == 0, r.stderr
    rates = dict(line.split() for line in r.stdout.decode().splitlines())
    assert set(rates) == {"sign", "sign-raw", "verify", "verify-raw"}, rates
    assert all(float(v) > 0 for v in rates.values()), rates
    r = run("dkim", "bench", "--key", key, "--parallel", "0")
    assert r.returncode != 0 and b"--parallel" in r.stderr
