"""`pochta doctor`: a zoo of domains in the real test DNS (tests/zones/doctor.test.zone),
each with exactly one seeded fault, and one perfect domain; real pochtad listeners on
127.0.0.60 (the perfect domain's MX address) for the SMTP checks: STARTTLS with a
CA-signed certificate (full marks), the self-signed one `pochta init` makes (warn), an
open relay (trusted_networks = 127.0.0.0/8) and a closed one; and `--message` on real
messages signed by `pochta dkim sign`.

Every assertion is on the --json output: the set of checks that warn or fail must be
exactly the seeded fault, so a doctor that blames the wrong thing, or blames more than
one thing, fails the test.
"""
import json
import os
import subprocess

import pytest

import conftest
from pochta_instance import POCHTA, PochtaInstance

HERE = os.path.dirname(os.path.abspath(__file__))
DKIM_KEY = os.path.join(HERE, "doctor", "dkim-perfect.pem")
LISTS = ["--dnsbl", "bl.doctor.test", "--uribl", "dbl.doctor.test"]
MX_IP = "127.0.0.60"  # mx.perfect.doctor.test, PTR back to it
AUTH_MARK_ONLY = getattr(conftest, "AUTH_MARK_ONLY", {})


def doctor(dns_server, *args, lists=True):
    """Run pochta doctor with --json against the test DNS; (exit status, report)."""
    cmd = [POCHTA, "doctor", *args, "--server", f"{dns_server.address}:{dns_server.port}", "--json"]
    if lists:
        cmd += LISTS
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), f"{cmd}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r.returncode, json.loads(r.stdout)


def problems(report):
    """{check id: status} of every check that warns or fails."""
    return {c["id"]: c["status"] for c in report["checks"] if c["status"] in ("warn", "fail")}


def check(report, cid):
    found = [c for c in report["checks"] if c["id"] == cid]
    assert len(found) == 1, f"{cid} reported {len(found)} times"
    return found[0]


# domain -> the one problem seeded in doctor.test.zone (checks under DNS only: --no-smtp)
ZOO = [
    ("nomx", {"mx.exists": "fail"}),
    ("nullmx", {"mx.exists": "warn"}),
    ("mxip", {"mx.host": "fail"}),
    ("mxcname", {"mx.cname": "fail"}),
    ("mxnoaddr", {"mx.address": "fail"}),
    ("noptr", {"ip.ptr": "fail"}),
    ("nofcrdns", {"ip.fcrdns": "fail"}),
    ("dynamic", {"ip.dynamic": "warn"}),
    ("nospf", {"spf.exists": "fail"}),
    ("twospf", {"spf.multiple": "fail"}),
    ("spfsyntax", {"spf.syntax": "fail"}),
    ("spflookups", {"spf.lookups": "fail"}),
    ("spfvoid", {"spf.void": "fail"}),
    ("spfnopass", {"spf.pass": "fail"}),
    ("spfplusall", {"spf.all": "fail"}),
    ("spfneutral", {"spf.all": "warn"}),
    ("spfptr", {"spf.ptr": "warn"}),
    ("nodkim", {"dkim.key": "fail"}),
    ("dkimbad", {"dkim.parse": "fail"}),
    ("dkimsmall", {"dkim.size": "warn"}),
    ("dkimother", {"dkim.match": "fail"}),
    ("nodmarc", {"dmarc.exists": "fail"}),
    ("dmarcbad", {"dmarc.parse": "fail"}),
    ("dmarcnone", {"dmarc.policy": "warn"}),
    ("dmarcnorua", {"dmarc.rua": "warn"}),
    ("dmarcsp", {"dmarc.sp": "warn"}),
    ("listedip", {"bl.ip": "fail"}),
    ("listeddomain", {"bl.domain": "fail"}),
]


@pytest.mark.parametrize("sub,want", ZOO, ids=[z[0] for z in ZOO])
def test_zoo_names_exactly_the_seeded_fault(dns_server, sub, want):
    # the match check needs our private key; the 1024-bit domain would also "not match" it
    key = [] if sub == "dkimsmall" else ["--dkim-key", DKIM_KEY]
    rc, rep = doctor(dns_server, f"{sub}.doctor.test", "--selector", "pochta", "--no-smtp", *key)
    assert problems(rep) == want, json.dumps(rep, indent=1)
    assert rc == (1 if "fail" in want.values() else 0)
    assert rep["score"] < 10
    for cid in want:
        c = check(rep, cid)
        assert c["why"] and c["fix"], c  # every problem says why it matters and what to do


def test_perfect_domain_dns_checks_full_marks(dns_server):
    rc, rep = doctor(dns_server, "perfect.doctor.test", "--selector", "pochta", "--dkim-key", DKIM_KEY, "--no-smtp")
    assert rc == 0
    assert problems(rep) == {}
    assert rep["score"] == 10.0
    assert check(rep, "dkim.match")["status"] == "ok"
    assert check(rep, "ip.fcrdns")["status"] == "ok"


def test_nxdomain_and_servfail_are_told_apart(dns_server):
    rc, gone = doctor(dns_server, "missing.doctor.test", "--no-smtp")
    assert rc == 1 and problems(gone) == {"domain.exists": "fail"}
    assert "NXDOMAIN" in check(gone, "domain.exists")["value"]
    # broken.test has no zone: NSD refuses, the resolver says SERVFAIL
    rc, broken = doctor(dns_server, "broken.test", "--no-smtp")
    assert rc == 1 and problems(broken) == {"domain.exists": "fail"}
    assert "SERVFAIL" in check(broken, "domain.exists")["value"]
    assert "NXDOMAIN" not in check(broken, "domain.exists")["value"]


def test_helo_name_that_does_not_resolve(dns_server):
    _, rep = doctor(dns_server, "perfect.doctor.test", "--selector", "pochta", "--no-smtp",
                    "--helo", "nohelo.doctor.test")
    assert problems(rep) == {"helo.resolves": "fail"}


def test_blocklist_hit_gives_the_delisting_url(dns_server):
    _, rep = doctor(dns_server, "listedip.doctor.test", "--selector", "pochta", "--no-smtp")
    value = check(rep, "bl.ip")["value"]
    assert "bl.doctor.test" in value and "https://bl.doctor.test/lookup?ip=127.0.0.69" in value


def test_human_output_piped_has_no_colour(dns_server):
    r = subprocess.run([POCHTA, "doctor", "nospf.doctor.test", "--selector", "pochta", "--no-smtp", *LISTS,
                        "--server", f"{dns_server.address}:{dns_server.port}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "\033[" not in r.stdout
    assert "[FAIL] spf.exists" in r.stdout and "fix: nospf.doctor.test. IN TXT" in r.stdout
    assert "score: 8.0/10" in r.stdout


def test_colour_only_on_a_terminal(dns_server):
    """The same run with stdout on a pseudo-terminal is coloured (and NO_COLOR turns it off)."""
    import pty

    def run(env):
        master, slave = pty.openpty()
        p = subprocess.Popen([POCHTA, "doctor", "nospf.doctor.test", "--selector", "pochta", "--no-smtp", *LISTS,
                              "--server", f"{dns_server.address}:{dns_server.port}"],
                             stdout=slave, stderr=subprocess.DEVNULL, env=env)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        assert p.wait(timeout=60) == 1
        return out.decode()

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = run(env)
    assert "\033[1;31mFAIL" in coloured and "spf.exists" in coloured
    assert "\033[" not in run({**env, "NO_COLOR": "1"})


def test_config_gives_helo_resolver_and_lists(dns_server, tmp_path):
    """With -c: HELO = hostname, DNS = dns_server, blocklists = doctor_dnsbl/doctor_uribl (no options)."""
    inst = PochtaInstance(tmp_path / "cfg", dns=dns_server, hostname="mx.perfect.doctor.test",
                          domain="perfect.doctor.test")
    inst.set("doctor_dnsbl", "bl.doctor.test")
    inst.set("doctor_uribl", "dbl.doctor.test")
    args = ["doctor", "perfect.doctor.test", "--selector", "pochta", "--no-smtp", "--json"]
    r = inst.cli(*args)
    rep = json.loads(r.stdout)
    assert problems(rep) == {} and rep["score"] == 10.0
    assert "mx.perfect.doctor.test resolves" in check(rep, "helo.resolves")["value"]
    assert "bl.doctor.test" in check(rep, "bl.ip")["value"]
    # the configured host name is what gets checked
    inst.set("hostname", "nohelo.doctor.test")
    inst.set("doctor_uribl", "none")
    rep = json.loads(inst.cli(*args, check=False).stdout)
    assert problems(rep) == {"helo.resolves": "fail"}
    assert check(rep, "bl.domain")["status"] == "skip"


# --- SMTP: real pochtad listeners at the perfect domain's MX address ---------------------------

@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    """A private CA and a certificate for mx.perfect.doctor.test signed by it (openssl CLI)."""
    d = tmp_path_factory.mktemp("ca")

    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d, timeout=60)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "2", "-subj", "/CN=pochta doctor test CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "mx.key", "-out", "mx.csr",
         "-subj", "/CN=mx.perfect.doctor.test")
    with open(d / "ext.cnf", "w") as f:
        f.write("subjectAltName=DNS:mx.perfect.doctor.test\n")
    ossl("x509", "-req", "-in", "mx.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "mx.pem", "-days", "2", "-extfile", "ext.cnf")
    return {"ca": str(d / "ca.pem"), "cert": str(d / "mx.pem"), "key": str(d / "mx.key")}


@pytest.fixture
def mx_factory(tmp_path, dns_server):
    """make(cert=None, **settings) -> a started pochtad for perfect.doctor.test on 127.0.0.60."""
    made = []

    def make(cert=None, **settings):
        inst = PochtaInstance(tmp_path / f"mx{len(made)}", dns=dns_server, hostname="mx.perfect.doctor.test",
                              domain="perfect.doctor.test")
        made.append(inst)
        inst.listen_host = MX_IP
        inst.set("smtp_listen", f"{MX_IP}:{inst.port}")
        if cert:
            inst.set("tls_cert", cert["cert"])
            inst.set("tls_key", cert["key"])
        for key, value in {**AUTH_MARK_ONLY, **settings}.items():
            inst.set(key, value)
        inst.add_user("alice@perfect.doctor.test")
        return inst.start()

    yield make
    for inst in made:
        inst.stop()


def smtp_doctor(dns_server, inst, *extra):
    return doctor(dns_server, "perfect.doctor.test", "--selector", "pochta", "--dkim-key", DKIM_KEY,
                  "--smtp-port", str(inst.port), "--relay-to", "relay-probe@remote.test", *extra)


def test_perfect_domain_with_its_server_gets_full_marks(dns_server, mx_factory, test_ca):
    inst = mx_factory(cert=test_ca)
    rc, rep = smtp_doctor(dns_server, inst, "--ca-file", test_ca["ca"])
    assert rc == 0
    assert problems(rep) == {}, json.dumps(rep, indent=1)
    assert rep["score"] == 10.0
    skipped = [c["id"] for c in rep["checks"] if c["status"] == "skip"]
    assert skipped == []
    assert "mx.perfect.doctor.test" in check(rep, "smtp.banner")["value"]
    assert "refused all" in check(rep, "smtp.relay")["value"]
    assert "TLS" in check(rep, "smtp.starttls")["value"]


def test_self_signed_certificate_is_a_warning(dns_server, mx_factory):
    inst = mx_factory()  # the certificate `pochta init` made for mx.perfect.doctor.test
    rc, rep = smtp_doctor(dns_server, inst)
    assert problems(rep) == {"smtp.cert": "warn"}, json.dumps(rep, indent=1)
    assert rc == 0
    assert "self-signed" in check(rep, "smtp.cert")["value"]


def test_certificate_for_another_name_fails(dns_server, mx_factory, test_ca, tmp_path):
    # `pochta init` for another host name makes a self-signed certificate for mx.example.test
    other = PochtaInstance(tmp_path / "other", hostname="mx.example.test")
    tls = os.path.join(other.dir, "tls")
    inst = mx_factory(cert={"cert": os.path.join(tls, "cert.pem"), "key": os.path.join(tls, "key.pem")})
    _, rep = smtp_doctor(dns_server, inst, "--ca-file", test_ca["ca"])
    assert problems(rep) == {"smtp.cert": "fail"}, json.dumps(rep, indent=1)
    assert "not for this name" in check(rep, "smtp.cert")["value"]


def test_open_relay_is_found_before_data(dns_server, mx_factory, test_ca):
    inst = mx_factory(cert=test_ca, trusted_networks="127.0.0.0/8")
    rc, rep = smtp_doctor(dns_server, inst, "--ca-file", test_ca["ca"])
    assert rc == 1
    assert problems(rep) == {"smtp.relay": "fail"}, json.dumps(rep, indent=1)
    assert "relay-probe@remote.test" in check(rep, "smtp.relay")["value"]
    # the probe stopped before DATA: nothing was queued or delivered
    assert not os.listdir(os.path.join(inst.dir, "queue")) or all(
        not files for _, _, files in os.walk(os.path.join(inst.dir, "queue")))


def test_connect_probes_the_given_listener(dns_server, mx_factory, test_ca):
    inst = mx_factory(cert=test_ca)
    rc, rep = doctor(dns_server, "perfect.doctor.test", "--selector", "pochta", "--connect", f"{MX_IP}:{inst.port}",
                     "--ca-file", test_ca["ca"], "--relay-to", "relay-probe@remote.test")
    assert rc == 0 and problems(rep) == {}
    assert f"port {inst.port}" in check(rep, "smtp.connect")["value"]


def test_config_probes_our_own_listener_when_no_mx_has_an_address(dns_server, pochta_factory):
    """nomx.doctor.test has no MX: with -c the SMTP checks go to our smtp_listen (127.0.0.1:PORT)."""
    inst = pochta_factory(doctor_dnsbl="bl.doctor.test", doctor_uribl="dbl.doctor.test")
    r = inst.cli("doctor", "nomx.doctor.test", "--selector", "pochta", "--json", check=False)
    rep = json.loads(r.stdout)
    assert f"127.0.0.1 port {inst.port}" in check(rep, "smtp.connect")["value"]
    assert check(rep, "smtp.connect")["status"] == "ok"
    assert check(rep, "smtp.relay")["status"] == "ok", check(rep, "smtp.relay")
    # the init certificate is for mx.example.test, but the name checked is the HELO name (hostname)
    assert check(rep, "smtp.cert")["status"] == "warn"
    assert set(problems(rep)) == {"mx.exists", "smtp.cert"}


def test_nothing_listening_fails_connect(dns_server):
    from pochta_instance import free_port
    _, rep = doctor(dns_server, "perfect.doctor.test", "--selector", "pochta", "--smtp-port", str(free_port()),
                    "--timeout", "3000")
    assert problems(rep) == {"smtp.connect": "fail"}
    assert "127.0.0.60" in check(rep, "smtp.connect")["value"]


@pytest.mark.parametrize("greeting,want", [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", {"smtp.banner": "fail"}),
    (b"220-" + b"x" * 100000, {"smtp.banner": "fail"}),             # one endless line
    (b"554 5.7.1 go away\r\n", {"smtp.banner": "fail"}),
    (b"220 localhost ready\r\n", {"smtp.banner": "warn", "smtp.ehlo": "fail"}),  # then hangs up
    (b"220\r\n", {"smtp.banner": "warn", "smtp.ehlo": "fail"}),
    (b"220-a\r\n" * 200, {"smtp.banner": "fail"}),                   # a reply that never ends
], ids=["http", "endless-line", "554", "not-fqdn-then-close", "bare-code", "endless-reply"])
def test_hostile_or_broken_server_is_reported_not_crashed(dns_server, greeting, want):
    """A raw TCP server at the MX address that is not a sane SMTP server."""
    import socket
    import threading
    from pochta_instance import free_port
    port = free_port()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((MX_IP, port))
    srv.listen(4)

    def serve():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            try:
                conn.sendall(greeting)
                conn.shutdown(socket.SHUT_WR)
                conn.recv(4096)
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        _, rep = doctor(dns_server, "perfect.doctor.test", "--selector", "pochta", "--smtp-port", str(port),
                        "--timeout", "3000")
    finally:
        srv.close()
        t.join(timeout=5)
    got = problems(rep)
    assert got == want, json.dumps(rep, indent=1)


# --- --message ------------------------------------------------------------------------------

GOOD_MSG = (
    "From: Alice <alice@perfect.doctor.test>\n"
    "To: Bob <bob@example.test>\n"
    "Subject: Minutes of Tuesday's meeting\n"
    "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
    "Message-ID: <minutes-1@perfect.doctor.test>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Hello Bob,\n\nthe minutes are below.\n"
)


def sign(tmp_path, text, domain="perfect.doctor.test"):
    src = tmp_path / "in.eml"
    src.write_text(text)
    r = subprocess.run([POCHTA, "dkim", "sign", "--domain", domain, "--selector", "pochta", "--key", DKIM_KEY,
                        str(src)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "signed.eml"
    out.write_bytes(r.stdout)
    return str(out)


def test_message_signed_and_clean_gets_full_marks(dns_server, tmp_path):
    rc, rep = doctor(dns_server, "--message", sign(tmp_path, GOOD_MSG), lists=False)
    assert rc == 0
    assert problems(rep) == {}, json.dumps(rep, indent=1)
    assert rep["score"] == 10.0
    assert "d=perfect.doctor.test" in check(rep, "msg.dkim")["value"]


def test_message_signed_by_another_domain_is_not_aligned(dns_server, tmp_path):
    # perfect.doctor.test signs, but From is example.test
    rc, rep = doctor(dns_server, "--message", sign(tmp_path, GOOD_MSG.replace(
        "alice@perfect.doctor.test", "alice@example.test")), lists=False)
    assert problems(rep) == {"msg.align": "fail"}, json.dumps(rep, indent=1)


def test_message_tampered_after_signing_fails_dkim(dns_server, tmp_path):
    path = sign(tmp_path, GOOD_MSG)
    with open(path, "rb") as f:
        data = f.read().replace(b"the minutes are below", b"the minutes are BELOW")
    with open(path, "wb") as f:
        f.write(data)
    rc, rep = doctor(dns_server, "--message", path, lists=False)
    assert rc == 1
    assert problems(rep) == {"msg.dkim": "fail", "msg.align": "warn"}, json.dumps(rep, indent=1)


def test_image_only_bulk_mail_without_unsubscribe(dns_server, tmp_path):
    msg = (
        "From: Shop <news@perfect.doctor.test>\n"
        "To: Bob <bob@example.test>\n"
        "Subject: Our offers\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
        "Message-ID: <offers-1@perfect.doctor.test>\n"
        "Precedence: bulk\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\n"
        "\n"
        "--b1\n"
        "Content-Type: image/png\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\n"
        "--b1--\n"
    )
    rc, rep = doctor(dns_server, "--message", sign(tmp_path, msg), lists=False)
    assert rc == 1
    assert problems(rep) == {"msg.text": "fail", "msg.unsubscribe": "fail"}, json.dumps(rep, indent=1)


def test_message_with_missing_and_doubled_headers(dns_server, tmp_path):
    msg = GOOD_MSG.replace("Date: Mon, 23 Nov 2026 10:00:00 +0000\n", "").replace(
        "From: Alice <alice@perfect.doctor.test>\n",
        "From: Alice <alice@perfect.doctor.test>\nFrom: Mallory <m@perfect.doctor.test>\n")
    rc, rep = doctor(dns_server, "--message", sign(tmp_path, msg), lists=False)
    assert problems(rep) == {"msg.headers": "fail"}, json.dumps(rep, indent=1)
    value = check(rep, "msg.headers")["value"]
    assert "2 From fields" in value and "no Date" in value


def test_garbage_is_not_a_message(dns_server, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 64)
    rc, rep = doctor(dns_server, "--message", str(junk), lists=False)
    assert rc == 1
    assert problems(rep) == {"msg.parse": "fail"} and rep["score"] == 0.0


def test_config_supplies_selector_and_signing_key(dns_server, pochta_factory, tmp_path):
    """With -c and no --selector, doctor checks the selectors the server signs with
    (dkim_key_dir/DOMAIN.SELECTOR.pem) against that very private key."""
    keys = tmp_path / "dkim"
    keys.mkdir()
    with open(DKIM_KEY) as src, open(keys / "perfect.doctor.test.pochta.pem", "w") as dst:
        dst.write(src.read())
    inst = pochta_factory(dkim_key_dir=str(keys), doctor_dnsbl="bl.doctor.test", doctor_uribl="dbl.doctor.test")
    rep = json.loads(inst.cli("doctor", "perfect.doctor.test", "--no-smtp", "--json", check=False).stdout)
    assert check(rep, "dkim.match")["status"] == "ok", check(rep, "dkim.match")
    assert "pochta._domainkey.perfect.doctor.test" in check(rep, "dkim.match")["value"]

    # a key the DNS does not publish: the signing key on disk is named as the mismatch
    os.unlink(keys / "perfect.doctor.test.pochta.pem")
    inst.cli("dkim", "keygen", "perfect.doctor.test", "--selector", "pochta", "--out", str(keys))
    rep = json.loads(inst.cli("doctor", "perfect.doctor.test", "--no-smtp", "--json", check=False).stdout)
    assert check(rep, "dkim.match")["status"] == "fail", check(rep, "dkim.match")
    assert str(keys / "perfect.doctor.test.pochta.pem") in check(rep, "dkim.match")["value"]
