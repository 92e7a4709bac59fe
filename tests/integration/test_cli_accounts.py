"""`pochta init` and the account commands (domain, user, alias) through the
real binary: files and modes made by init, configuration errors, round trips,
password hashes, and a concurrent SQLite reader that must not block the CLI.

Needs no DNS server or daemon; runs alone with
  POCHTA_BUILD=build /usr/bin/python3 -m pytest tests/integration/test_cli_accounts.py
"""
import os
import sqlite3
import stat
import subprocess
import time

import pytest

BUILD = os.environ.get("POCHTA_BUILD", "/work/main/build")
POCHTA = os.path.join(BUILD, "pochta")
POCHTAD = os.path.join(BUILD, "pochtad")


def run(*args, input=None):
    return subprocess.run([POCHTA, *args], capture_output=True, text=True, input=input, timeout=60)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def inst(tmp_path):
    """An initialised directory; returns (dir, conf path)."""
    d = tmp_path / "state"
    r = run("init", str(d), "--hostname", "mx.example.test", "--domain", "Example.Test",
            "--smtp", "127.0.0.1:2525", "--dns", "127.0.0.1:5353")
    assert r.returncode == 0, r.stderr
    return d, str(d / "pochta.conf")


def cli(conf, *args, input=None, rc=0):
    r = run("-c", conf, *args, input=input)
    assert r.returncode == rc, f"{args}: rc {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def test_init_files_and_modes(inst):
    d, conf = inst
    for sub in ("queue", "mail", "tls"):
        assert os.path.isdir(d / sub) and mode(d / sub) == 0o700
    assert mode(d / "tls" / "key.pem") == 0o600
    assert mode(conf) == 0o640
    assert mode(d / "pochta.db") & 0o007 == 0
    text = open(conf).read()
    assert text.startswith("# pochta.conf")
    assert f"state_dir = {d}\n" in text
    assert "smtp_listen = 127.0.0.1:2525\n" in text
    assert "submission_listen = 0.0.0.0:587\n" in text
    assert "submissions_listen = 0.0.0.0:465\n" in text
    assert "# pop3_listen = off\n" in text
    assert "dns_server = 127.0.0.1:5353\n" in text
    assert "# max_message_size = 10M\n" in text
    x = subprocess.run(["openssl", "x509", "-in", str(d / "tls" / "cert.pem"), "-noout", "-subject",
                        "-ext", "subjectAltName", "-enddate"], capture_output=True, text=True)
    assert x.returncode == 0, x.stderr
    assert "CN = mx.example.test" in x.stdout and "DNS:mx.example.test" in x.stdout
    year = int(x.stdout.split("notAfter=")[1].split()[3])
    assert year >= time.gmtime().tm_year + 9
    k = subprocess.run(["openssl", "pkey", "-in", str(d / "tls" / "key.pem"), "-noout"], capture_output=True)
    assert k.returncode == 0
    assert cli(conf, "domain", "list").stdout.startswith("example.test  0 mailboxes")


def test_init_refuses_to_overwrite(inst):
    d, conf = inst
    before = open(conf).read()
    r = run("init", str(d), "--hostname", "other.test", "--domain", "other.test")
    assert r.returncode == 1
    assert "already exists" in r.stderr
    assert open(conf).read() == before


@pytest.mark.parametrize("args,needle", [
    (["--domain", "example.test"], "usage:"),
    (["--hostname", "mx.test", "--domain", "example.test", "--smtp", "localhost"], "--smtp: bad address"),
    (["--hostname", "bad host", "--domain", "example.test"], "--hostname: bad host name"),
])
def test_init_bad_options(tmp_path, args, needle):
    d = tmp_path / "s"
    r = run("init", str(d), *args)
    assert r.returncode == 2
    assert needle in r.stderr
    assert not (d / "pochta.conf").exists()


def test_config_errors(inst, tmp_path):
    d, conf = inst
    r = run("domain", "list")
    assert r.returncode == 2 and "no configuration: use -c CONF" in r.stderr
    with open(conf, "a") as f:
        f.write("smtp_lisen = 1.2.3.4:25\n")
    n = len(open(conf).read().splitlines())
    r = run("-c", conf, "domain", "list")
    assert r.returncode == 2
    assert f"{conf}:{n}: unknown key 'smtp_lisen'" in r.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("hostname = h.test\nmax_message_size = lots\n")
    r = run("-c", str(bad), "user", "list")
    assert r.returncode == 2 and f"{bad}:2: max_message_size: bad size" in r.stderr


def test_domain_round_trip(inst):
    _, conf = inst
    cli(conf, "domain", "add", "Other.TEST")
    assert "already exists" in cli(conf, "domain", "add", "other.test", rc=1).stderr
    assert "not a valid domain" in cli(conf, "domain", "add", "bad domain", rc=1).stderr
    assert [l.split()[0] for l in cli(conf, "domain", "list").stdout.splitlines()] == ["example.test", "other.test"]
    cli(conf, "domain", "del", "other.test")
    assert "does not exist" in cli(conf, "domain", "del", "other.test", rc=1).stderr
    cli(conf, "domain", rc=2)


def test_user_round_trip_and_hash(inst, tmp_path):
    d, conf = inst
    pw = tmp_path / "pw"
    pw.write_text("s3cret pass\nsecond line ignored\n")
    cli(conf, "user", "add", "Alice@Example.TEST", "--password-file", str(pw))
    cli(conf, "user", "add", "bob@example.test", input="from-stdin\n")
    assert "already exists" in cli(conf, "user", "add", "alice@example.test", input="x\n", rc=1).stderr
    r = cli(conf, "user", "add", "carol@nowhere.test", input="x\n", rc=1)
    assert "domain 'nowhere.test' is not local" in r.stderr
    assert "not a valid address" in cli(conf, "user", "add", "no-at-sign", input="x\n", rc=1).stderr
    assert "no password" in cli(conf, "user", "add", "dave@example.test", input="", rc=1).stderr
    users = [l.split()[0] for l in cli(conf, "user", "list").stdout.splitlines()]
    assert users == ["alice@example.test", "bob@example.test"]
    assert cli(conf, "user", "list", "other.test").stdout == ""

    db = sqlite3.connect(str(d / "pochta.db"))
    rows = dict(db.execute("SELECT address, password FROM users"))
    db.close()
    assert rows["alice@example.test"].startswith("$y$")
    assert "s3cret" not in open(d / "pochta.db", "rb").read().decode("latin-1")
    old = rows["bob@example.test"]
    cli(conf, "user", "passwd", "bob@example.test", input="changed\n")
    db = sqlite3.connect(str(d / "pochta.db"))
    new = db.execute("SELECT password FROM users WHERE address='bob@example.test'").fetchone()[0]
    db.close()
    assert new.startswith("$y$") and new != old
    assert "no mailbox" in cli(conf, "user", "passwd", "zed@example.test", input="x\n", rc=1).stderr
    cli(conf, "user", "del", "bob@example.test")
    assert "no mailbox" in cli(conf, "user", "del", "bob@example.test", rc=1).stderr


def test_alias_round_trip(inst):
    _, conf = inst
    cli(conf, "user", "add", "alice@example.test", input="pw\n")
    cli(conf, "alias", "add", "Postmaster@example.test", "alice@example.test")
    cli(conf, "alias", "add", "team@example.test", "alice@example.test", "friend@remote.example")
    assert "already exists" in cli(conf, "alias", "add", "team@example.test", "alice@example.test", rc=1).stderr
    r = cli(conf, "alias", "add", "x@nowhere.test", "alice@example.test", rc=1)
    assert "domain 'nowhere.test' is not local" in r.stderr
    assert cli(conf, "alias", "list").stdout.splitlines() == [
        "postmaster@example.test -> alice@example.test",
        "team@example.test -> alice@example.test",
        "team@example.test -> friend@remote.example",
    ]
    cli(conf, "alias", "del", "team@example.test", "friend@remote.example")
    assert "no alias" in cli(conf, "alias", "del", "team@example.test", "friend@remote.example", rc=1).stderr
    cli(conf, "alias", "del", "team@example.test")
    assert cli(conf, "alias", "list").stdout == "postmaster@example.test -> alice@example.test\n"
    cli(conf, "alias", "add", "only@example.test", rc=2)


def test_reader_does_not_block_cli(inst):
    d, conf = inst
    reader = sqlite3.connect(str(d / "pochta.db"), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM users").fetchone()
    try:
        t0 = time.time()
        cli(conf, "user", "add", "eve@example.test", input="pw\n")
        cli(conf, "alias", "add", "abuse@example.test", "eve@example.test")
        assert time.time() - t0 < 4, "the CLI waited for the reader"
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert "eve@example.test" in cli(conf, "user", "list").stdout


@pytest.mark.skipif(not os.path.exists(POCHTAD), reason="pochtad not built")
def test_pochtad_check_prints_effective_settings(inst):
    _, conf = inst
    r = subprocess.run([POCHTAD, "-c", conf, "-n"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "hostname = mx.example.test\n" in r.stdout
    assert "max_message_size = 10M\n" in r.stdout
    assert "pop3_listen = off\n" in r.stdout
