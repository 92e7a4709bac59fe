"""`pochta dns` against NSD serving tests/zones: the unbound backend end to end.

Run: POCHTA_BUILD=build /usr/bin/python3 -m pytest -q tests/integration/test_dns.py
"""
import os
import socket
import subprocess

import pytest

# dns_server (session-scoped NSD serving tests/zones) comes from conftest.py

BUILD = os.environ.get("POCHTA_BUILD", "/work/main/build")
POCHTA = os.path.join(BUILD, "pochta")


def dns(server, *args, timeout=30):
    r = subprocess.run([POCHTA, "dns", *args, "--server", server], capture_output=True, text=True,
                       timeout=timeout)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r.returncode, r.stdout.splitlines()


CASES = [
    # args, exit code, status line, record lines
    (("example.test", "MX"), 0, "example.test MX ok ttl=300", ["MX 10 mx.example.test ttl=300"]),
    (("mx.example.test", "A"), 0, "mx.example.test A ok ttl=300", ["A 127.0.0.1 ttl=300"]),
    (("MX.Example.TEST.",), 0, "MX.Example.TEST. A ok ttl=300", ["A 127.0.0.1 ttl=300"]),
    (("v6.example.test", "AAAA"), 0, "v6.example.test AAAA ok ttl=300", ["AAAA 2001:db8::25 ttl=300"]),
    (("nullmx.sender.test", "MX"), 0, "nullmx.sender.test MX ok ttl=300", ["MX 0 . ttl=300"]),
    (("127.0.0.2",), 0, "2.0.0.127.in-addr.arpa PTR ok ttl=300", ["PTR good.sender.test ttl=300"]),
    (("127.0.0.4", "PTR"), 0, "4.0.0.127.in-addr.arpa PTR ok ttl=300", ["PTR 127-0-0-4.dyn.isp.test ttl=300"]),
    (("127.0.0.5",), 0, "5.0.0.127.in-addr.arpa PTR nxdomain ttl=300", []),
    (("good.sender.test", "TXT"), 0, "good.sender.test TXT ok ttl=300",
     ['TXT "v=spf1 ip4:127.0.0.2 -all" ttl=300']),
    (("alias.sender.test", "A"), 0, "alias.sender.test A ok ttl=300 canon=good.sender.test",
     ["A 127.0.0.2 ttl=300"]),
    (("alias.sender.test", "CNAME"), 0, "alias.sender.test CNAME ok ttl=300", ["CNAME good.sender.test ttl=300"]),
    (("remote.test", "MX"), 0, "remote.test MX ok ttl=300",
     ["MX 10 mx.remote.test ttl=300", "MX 20 mx2.remote.test ttl=300"]),
    (("nope.example.test", "A"), 0, "nope.example.test A nxdomain ttl=300", []),
    (("mx.example.test", "AAAA"), 0, "mx.example.test AAAA nodata ttl=300", []),
    (("nomx.sender.test", "MX"), 0, "nomx.sender.test MX nodata ttl=300", []),
    (("broken.test", "A"), 1, "broken.test A tempfail ttl=0", []),
]


@pytest.mark.parametrize("args,code,status,records", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_lookup(dns_server, args, code, status, records):
    rc, lines = dns(dns_server.server, *args)
    assert rc == code, lines
    assert lines[0] == status
    assert sorted(lines[1:]) == sorted(records)


def test_long_txt_is_concatenated(dns_server):
    rc, lines = dns(dns_server.server, "long.sender.test", "TXT")
    assert rc == 0 and lines[0] == "long.sender.test TXT ok ttl=300"
    assert len(lines) == 2
    text = lines[1][len('TXT "'):-len('" ttl=300')]
    assert len(text) > 255
    assert text.startswith("v=spf1 ip4:192.0.2.1 ") and text.endswith(" ip4:198.51.100.19 -all")
    assert "ip4:192.0.2.14 " in text and "ip4:198.51.100.7 " in text  # across string boundaries


def test_server_from_config(dns_server, tmp_path):
    conf = tmp_path / "pochta.conf"
    subprocess.run([POCHTA, "init", str(tmp_path), "--hostname", "mx.example.test", "--domain",
                    "example.test", "--dns", dns_server.server], check=True, capture_output=True, timeout=30)
    if not conf.exists():
        pytest.skip("pochta init is not available")
    r = subprocess.run([POCHTA, "-c", str(conf), "dns", "example.test", "MX"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == "MX 10 mx.example.test ttl=300"


def test_timeout_is_tempfail():
    """A server that never answers gives TEMPFAIL at our deadline, not a hang."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        server = "127.0.0.1:%d" % silent.getsockname()[1]
        rc, lines = dns(server, "example.test", "MX", "--timeout", "500", timeout=20)
    assert rc == 1
    assert lines == ["example.test MX tempfail ttl=0"]


def test_usage_errors():
    for args in (["dns"], ["dns", "example.test", "BOGUS"], ["dns", "a", "MX", "extra"],
                 ["dns", "a", "--timeout", "x"]):
        r = subprocess.run([POCHTA, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, args
