"""A real authoritative DNS server (NSD) on loopback for integration tests.

    srv = DnsServer("tests/zones", "/tmp/work")   # every *.zone; origin = file name minus .zone
    srv.start()        # nsd -d on 127.0.0.1 and a free UDP+TCP port; returns once it answers SOA
    f"{srv.address}:{srv.port}"   # what pochta.conf's dns_server takes
    srv.stop()

The pytest fixture `dns_server` (session scope) serves tests/zones/; import
it into a conftest.py with `from dnsserver import dns_server`.

NSD 4 on Debian runs here as whoever runs the tests, in the foreground, with
no chroot, no privilege drop (username ""), no control socket, no database
file (database ""), and every state file (zone list, xfrd state, pid) in the
work directory, so nothing under /var or /etc is touched. Names in zones it
does not serve get REFUSED, which a forwarding resolver turns into SERVFAIL:
tests use that (e.g. broken.test) as "the DNS is failing".
"""
import os
import socket
import struct
import subprocess
import time

import pytest

ZONES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zones")
NSD = "/usr/sbin/nsd"


def free_udp_tcp_port(host="127.0.0.1"):
    """A port number free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port")


def soa_query(name, qid=0x5053):
    """A minimal DNS query packet for NAME SOA (RFC 1035 4.1)."""
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 6, 1)


class DnsServer:
    def __init__(self, zone_dir, workdir):
        self.zone_dir = os.path.abspath(str(zone_dir))
        self.workdir = os.path.abspath(str(workdir))
        self.address = "127.0.0.1"
        self.port = None
        self.proc = None
        self.zones = sorted(f[:-len(".zone")] for f in os.listdir(self.zone_dir) if f.endswith(".zone"))
        if not self.zones:
            raise ValueError(f"no *.zone files in {self.zone_dir}")

    @property
    def server(self):
        """ADDR:PORT for pochta.conf's dns_server and `pochta dns --server`."""
        return f"{self.address}:{self.port}"

    def _write_conf(self):
        w = self.workdir
        lines = [
            "server:",
            f'    ip-address: {self.address}@{self.port}',
            f"    port: {self.port}",
            "    do-ip4: yes",
            "    do-ip6: no",
            '    username: ""',
            '    chroot: ""',
            '    database: ""',
            f'    zonelistfile: "{w}/zone.list"',
            f'    xfrdfile: "{w}/xfrd.state"',
            f'    xfrdir: "{w}"',
            f'    pidfile: "{w}/nsd.pid"',
            f'    logfile: "{w}/nsd.log"',
            f'    zonesdir: "{self.zone_dir}"',
            "    server-count: 1",
            "    verbosity: 1",
            "    hide-version: yes",
            "remote-control:",
            "    control-enable: no",
        ]
        for z in self.zones:
            lines += ["zone:", f"    name: {z}", f'    zonefile: "{self.zone_dir}/{z}.zone"']
        path = os.path.join(w, "nsd.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _answers(self):
        """True when the server answers a SOA query for its first zone."""
        q = soa_query(self.zones[0])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(q, (self.address, self.port))
                data = s.recv(4096)
            except OSError:
                return False
        # same id, QR set, RCODE NOERROR, at least one answer
        return len(data) >= 12 and data[:2] == q[:2] and data[2] & 0x80 and (data[3] & 0x0F) == 0 \
            and struct.unpack(">H", data[6:8])[0] >= 1

    def start(self, timeout=20.0):
        os.makedirs(self.workdir, exist_ok=True)
        for attempt in range(3):  # the free port can be taken between probing and binding
            self.port = free_udp_tcp_port(self.address)
            conf = self._write_conf()
            self.stderr = open(os.path.join(self.workdir, "nsd.stderr"), "w")
            self.proc = subprocess.Popen([NSD, "-d", "-c", conf], stdout=self.stderr, stderr=subprocess.STDOUT)
            deadline = time.time() + timeout
            while time.time() < deadline and self.proc.poll() is None:
                if self._answers():
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"nsd did not start; see {self.workdir}/nsd.log and nsd.stderr")

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.stderr.close()


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory):
    """One NSD serving tests/zones/ for the whole test run."""
    srv = DnsServer(ZONES, tmp_path_factory.mktemp("nsd"))
    srv.start()
    yield srv
    srv.stop()
