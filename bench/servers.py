"""servers - the two mail servers `make bench` compares, each set up in its
own temporary directory on its own loopback port, and the DNS they use.

    dns = start_dns(workdir)                  # NSD with the bench zones
    p = Pochta(build, workdir, dns).setup().start()
    x = Postfix(workdir).setup().start()
    dns = start_dns(workdir, resolver=True)   # NSD also on port 53 of dns.resolver
    x = Postfix(workdir, "postfix-dns", resolver=dns.resolver).setup().start()
    s.port, s.pids(), s.pending(), s.delivered(), s.clear_mail(), s.stop()

Both do the same work with each accepted message: make it durable in their
queue before answering 250 (fsync), then deliver it to the Maildir of
alice@example.test (fsync again) in the background. Nothing outside the
temporary directory is touched: Postfix runs with `postfix -c DIR` and its
own queue_directory, data_directory and Maildir base; no system service is
started or stopped.

Postfix looks names up through glibc, which reads /etc/resolv.conf and cannot
be given a port. With resolver=ADDR it runs in a private mount namespace
(unshare(1)) where /etc/resolv.conf says `nameserver ADDR` and
/etc/nsswitch.conf sends host names to DNS only (not /etc/hosts, where
127.0.0.1 is localhost), so master and each smtpd ask the
bench's NSD on ADDR:53 (start_dns(resolver=True)); the system's files are
untouched.
"""
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from dnsserver import DnsServer, soa_query  # noqa: E402  (the NSD wrapper the tests use)
from pochta_instance import free_port  # noqa: E402  (distinct ports, below the ephemeral range)

DOMAIN = "example.test"
HOSTNAME = "mx.example.test"
RCPT = "alice@example.test"
SENDER = "bench@bench.test"
CLIENT_NAME = "mta.bench.test"  # not "client...": that looks like a dynamic address
NOBODY = 65534  # uid/gid Postfix's virtual(8) writes the Maildir as
RESOLVER_ADDRS = ["127.0.2.53", "127.0.3.53", "127.0.4.53"]  # for NSD on port 53

# The bench's own zones: the loopback client has a forward-confirmed name,
# the sender's domain an MX and an SPF record that passes for loopback, so whatever
# pochta checks at connect and MAIL FROM gets a quick, definite answer.
ZONES = {
    "0.0.127.in-addr.arpa": ["1 IN PTR mta.bench.test."],
    "bench.test": ["@ IN MX 10 mta.bench.test.", "mta IN A 127.0.0.1", "ns IN A 127.0.0.1",
                   '@ IN TXT "v=spf1 ip4:127.0.0.0/8 -all"', 'mta IN TXT "v=spf1 ip4:127.0.0.0/8 -all"'],
    "example.test": ["@ IN MX 10 mx.example.test.", "mx IN A 127.0.0.1",
                     '@ IN TXT "v=spf1 mx -all"'],
}


# The only changes to what `pochta init` writes: room for 200 sessions and
# 1,000 idle connections, all from 127.0.0.1, and no refusals of a load
# generator that is obviously the same client over and over (per-IP rate
# limits; greylisting, whose first answer is 450). Every other check of the
# default configuration stays on. Keys this build does not know are skipped.
POCHTA_SETTINGS = [
    ("max_connections", "2000"),
    ("max_conn_per_ip", "2000"),
    ("rate_connections", "0"),
    ("rate_messages", "0"),
    ("rate_recipients", "0"),
    ("policy_exempt", "greylist:127.0.0.0/8"),
]


def wait_banner(port, timeout=30.0):
    """Return once the server on port answers with a 220 banner."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                line = c.makefile("rb").readline()
                if line.startswith(b"220"):
                    c.sendall(b"QUIT\r\n")
                    return
                last = line
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"no 220 banner on 127.0.0.1:{port} within {timeout:.0f}s (last: {last!r})")


def run(args, **kw):
    """Run a setup command; fail loudly with its output."""
    r = subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


class BenchDns(DnsServer):
    """The tests' NSD wrapper, also listening on port 53 of self.resolver
    (a spare loopback address) when that is set, for glibc's resolver.
    Response rate limiting is off: Debian's NSD limits each answer to 200/s
    per client /24 by default, and a server without a DNS cache (Postfix)
    asks for the same names far more often under the bench's load; the
    drops and truncated answers would time the resolver, not the server."""

    def __init__(self, zone_dir, workdir, resolver=None):
        super().__init__(zone_dir, workdir)
        self.resolver = resolver

    def _write_conf(self):
        path = super()._write_conf()
        with open(path) as f:
            lines = f.read().splitlines()
        first = next(i for i, l in enumerate(lines) if "ip-address:" in l)
        lines[first + 1:first + 1] = ["    rrl-ratelimit: 0", "    rrl-whitelist-ratelimit: 0"] + \
            ([f"    ip-address: {self.resolver}@53"] if self.resolver else [])
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, timeout=20.0):
        super().start(timeout)
        if self.resolver and not answers_soa(self.resolver, 53, self.zones[0]):
            self.stop()
            raise RuntimeError(f"nsd does not answer on {self.resolver}:53; see {self.workdir}/nsd.log")
        return self


def answers_soa(addr, port, zone):
    """True when addr:port answers a SOA query for zone with NOERROR."""
    q = soa_query(zone)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        try:
            s.sendto(q, (addr, port))
            data = s.recv(4096)
        except OSError:
            return False
    return len(data) >= 12 and data[:2] == q[:2] and (data[3] & 0x0F) == 0


def spare_port53():
    """A loopback address whose port 53 is free for UDP and TCP (not
    127.0.0.53/54, which systemd-resolved takes)."""
    for addr in RESOLVER_ADDRS:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
                u.bind((addr, 53))
                t.bind((addr, 53))
            return addr
        except OSError:
            continue
    raise RuntimeError(f"port 53 is taken on every one of {', '.join(RESOLVER_ADDRS)}")


def start_dns(workdir, extra=None, resolver=False):
    """NSD on a free loopback port serving ZONES and the zones in extra
    ({origin: [records]}), written under workdir/zones; with resolver, also
    on port 53 of a spare loopback address (dns.resolver) for Postfix."""
    zdir = os.path.join(workdir, "zones")
    os.makedirs(zdir)
    for origin, rrs in {**ZONES, **(extra or {})}.items():
        with open(os.path.join(zdir, origin + ".zone"), "w") as f:
            f.write(f"$ORIGIN {origin}.\n$TTL 3600\n"
                    f"@ IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 300\n"
                    f"@ IN NS ns.bench.test.\n" + "\n".join(rrs) + "\n")
    return BenchDns(zdir, os.path.join(workdir, "nsd"), spare_port53() if resolver else None).start()


def count_files(*dirs):
    """Regular files below dirs (recursively); missing dirs count 0."""
    n = 0
    for d in dirs:
        for _, _, files in os.walk(d):
            n += len(files)
    return n


def rotate_new(d):
    """Move a Maildir's new/ aside (the server makes a fresh one), so the next
    run counts from zero. Not deleted: on ext4 without a journal, creating a
    file soon after many were deleted is slow (the inode allocator skips
    recently freed inodes), and that would tax whichever server runs next."""
    if os.path.isdir(d):
        n = 1
        while os.path.exists(f"{d}.{n}"):
            n += 1
        os.rename(d, f"{d}.{n}")


def process_tree(root):
    """root and all its descendants, from /proc/*/stat."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def memory_kb(pids):
    """(sum of VmRSS, sum of Pss) in KB over pids; processes that vanished count 0."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                rss += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss += next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return rss, pss


class Pochta:
    """pochtad from `pochta init`, as a user would set it up."""
    name = "pochta"

    def __init__(self, build, workdir, dns):
        self.build = os.path.abspath(build)
        self.dir = os.path.join(workdir, "pochta")
        self.dns = dns
        self.port = free_port()
        self.conf = os.path.join(self.dir, "pochta.conf")
        self.proc = None

    def cli(self, *args):
        return run([os.path.join(self.build, "pochta"), "-c", self.conf, *args])

    def set(self, key, value):
        """key = value in pochta.conf, replacing the default line."""
        with open(self.conf) as f:
            lines = [l for l in f.read().splitlines()
                     if not l.lstrip("# \t").startswith(key + " ") and not l.lstrip("# \t").startswith(key + "=")]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines + [f"{key} = {value}"]) + "\n")

    def setup(self):
        run([os.path.join(self.build, "pochta"), "init", self.dir, "--hostname", HOSTNAME,
             "--domain", DOMAIN, "--smtp", f"127.0.0.1:{self.port}",
             "--submission", f"127.0.0.1:{free_port()}", "--submissions", f"127.0.0.1:{free_port()}",
             "--dns", self.dns.server])
        known = {l.split(" = ", 1)[0] for l in
                 run([os.path.join(self.build, "pochtad"), "-c", self.conf, "-n"]).splitlines()}
        self.changed = []
        for key, value in POCHTA_SETTINGS:
            if key in known:
                self.set(key, value)
                self.changed.append(f"{key} = {value}")
        pw = os.path.join(self.dir, "pw")
        with open(pw, "w") as f:
            f.write("bench-password\n")
        self.cli("user", "add", RCPT, "--password-file", pw)
        return self

    def start(self):
        self.log = open(os.path.join(self.dir, "pochtad.log"), "ab")
        self.proc = subprocess.Popen([os.path.join(self.build, "pochtad"), "-c", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_banner(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError("pochtad did not start:\n" + self.log_tail())
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=30):
        with open(os.path.join(self.dir, "pochtad.log"), errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def pids(self):
        return [self.proc.pid]

    def pending(self):
        """Messages accepted but not yet delivered."""
        return count_files(os.path.join(self.dir, "queue", "active"))

    def maildir_new(self):
        return os.path.join(self.dir, "mail", DOMAIN, "alice", "new")

    def delivered(self):
        return count_files(self.maildir_new())

    def clear_mail(self):
        rotate_new(self.maildir_new())

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()


class Postfix:
    """Debian's Postfix, one instance under workdir/NAME with `postfix -c`;
    with resolver=ADDR it resolves through the DNS server on ADDR:53."""

    def __init__(self, workdir, name="postfix", resolver=None):
        self.name = name
        self.resolver = resolver
        self.dir = os.path.join(workdir, name)
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.mail = os.path.join(self.dir, "mail")
        self.port = free_port()
        self.master = None

    def postfix(self, *args):
        return run(["postfix", "-c", self.etc, *args])

    def main_cf(self):
        d = self.dir
        cf = {
            "compatibility_level": "3.6",
            "queue_directory": f"{d}/spool",
            "data_directory": f"{d}/data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": HOSTNAME,
            "mydomain": DOMAIN,
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_base": f"{d}/mail",
            "virtual_mailbox_maps": f"texthash:{d}/etc/vmailbox",
            "virtual_uid_maps": f"static:{NOBODY}",
            "virtual_gid_maps": f"static:{NOBODY}",
            "maillog_file": f"{d}/maillog",
            "biff": "no",
        }
        if not self.resolver:
            # No DNS on the hot path: pochta asks a local NSD (cached by
            # libunbound); Postfix would ask the system resolver, so it skips it.
            cf["smtpd_peername_lookup"] = "no"
        return cf

    def setup(self):
        for sub in ("etc", "spool", "data", "mail"):
            os.makedirs(os.path.join(self.dir, sub))
        # virtual(8) runs as NOBODY and must reach mail/ through the temp dirs
        for p in (os.path.dirname(self.dir), self.dir):
            os.chmod(p, 0o755)
        os.chown(self.mail, NOBODY, NOBODY)
        os.chown(os.path.join(self.dir, "data"), *pw_ids("postfix"))
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in self.main_cf().items():
                f.write(f"{k} = {v}\n")
        with open(os.path.join(self.etc, "vmailbox"), "w") as f:
            f.write(f"{RCPT} {DOMAIN}/alice/\n")
        shutil.copy("/etc/postfix/master.cf", os.path.join(self.etc, "master.cf"))
        pc = ["postconf", "-c", self.etc]
        run(pc + ["-MX", "smtp/inet"])
        # smtpd: one process per connection, so room for 1,000 idle ones
        run(pc + ["-M", f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - 1100 smtpd"])
        run(pc + ["-F", "*/*/chroot=n"])
        self.postfix("check")
        return self

    def start(self):
        if self.resolver:
            self.start_with_resolver()
        else:
            self.postfix("start")
        self.master = self.read_master_pid()
        try:
            wait_banner(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError("postfix did not start:\n" + self.log_tail())
        return self

    def start_with_resolver(self):
        """postfix start in a private mount namespace whose /etc/resolv.conf
        names only self.resolver and whose nsswitch.conf asks DNS (not
        /etc/hosts, where 127.0.0.1 is localhost) for hosts. master keeps the
        namespace after unshare exits and every smtpd it starts inherits it."""
        ns = os.path.join(self.dir, "ns")
        os.makedirs(ns, exist_ok=True)
        with open(os.path.join(ns, "resolv.conf"), "w") as f:
            f.write(f"nameserver {self.resolver}\noptions timeout:2 attempts:2\n")
        with open("/etc/nsswitch.conf") as f:
            lines = [l for l in f.read().splitlines() if not l.startswith("hosts:")]
        with open(os.path.join(ns, "nsswitch.conf"), "w") as f:
            f.write("\n".join(lines + ["hosts: dns"]) + "\n")
        script = " && ".join(
            [f"mount --bind {shlex.quote(os.path.join(ns, n))} /etc/{n}" for n in ("resolv.conf", "nsswitch.conf")]
            + [f"exec postfix -c {shlex.quote(self.etc)} start"])
        run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script])

    def read_master_pid(self, timeout=10.0):
        path = os.path.join(self.spool, "pid", "master.pid")
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with open(path) as f:
                    return int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.1)
        raise RuntimeError(f"postfix master wrote no {path}")

    def alive(self):
        return self.master is not None and os.path.exists(f"/proc/{self.master}")

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no maillog)"

    def pids(self):
        return process_tree(self.master)

    def pending(self):
        s = self.spool
        return count_files(*(os.path.join(s, q) for q in ("maildrop", "incoming", "active", "deferred", "hold")))

    def maildir_new(self):
        return os.path.join(self.mail, DOMAIN, "alice", "new")

    def delivered(self):
        return count_files(self.maildir_new())

    def clear_mail(self):
        rotate_new(self.maildir_new())

    def stop(self):
        if self.master is None:
            return
        subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True, timeout=60)
        deadline = time.time() + 30
        while self.alive() and time.time() < deadline:
            time.sleep(0.1)
        for pid in process_tree(self.master) if self.alive() else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.master = None


def pw_ids(user):
    """(uid, gid) of a system user."""
    p = pwd.getpwnam(user)
    return p.pw_uid, p.pw_gid


def finish(work, keep, log, *parts):
    """End of a bench script: stop every part that was started (servers, sinks,
    DNS; None is skipped), then remove the work directory unless keep."""
    for part in parts:
        if part is not None:
            part.stop()
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def script_main(prefix, main):
    """Run a bench script's main(): SIGTERM and SIGHUP end it through its
    cleanup, and a failure prints "PREFIX: FAILED: why" and exits 1."""
    def on_signal(signum, frame):
        raise SystemExit(f"{prefix}: interrupted by signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        main()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"{prefix}: FAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(1)


def add_common_args(ap):
    """The options every bench script takes: --build, --repeat, --dir, --keep."""
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--build", default=os.environ.get("POCHTA_BUILD", os.path.join(here, "..", "build")))
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "3")),
                    help="measured runs per cell and server; the median is reported (default 3)")
    ap.add_argument("--dir", default=os.environ.get("BENCH_DIR", "/var/tmp"),
                    help="where the temporary directory goes (a disk, not tmpfs; default /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
