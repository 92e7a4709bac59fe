"""A real pochtad in a temporary directory, for integration tests.

PochtaInstance runs `pochta init`, adjusts settings, adds accounts with the
real CLI, starts the real daemon on free loopback ports and stops it with
SIGTERM, failing the test if the daemon (built with ASan/UBSan in `make
test`) reported a memory error, a leak or undefined behaviour.
"""
import os
import random
import re
import signal
import socket
import subprocess
import time

BUILD = os.environ.get("POCHTA_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
POCHTA = os.path.join(BUILD, "pochta")
POCHTAD = os.path.join(BUILD, "pochtad")

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")


# Most tests send as carol@good.sender.test from 127.0.0.1 (which its SPF record does not list)
# or from domains the test DNS does not serve (SERVFAIL): with the daemon's defaults (SPF fail ->
# 550, DNS failure -> 451) they would test SPF instead of what they name. So test instances only
# mark SPF/DMARC results unless a test sets enforcement; test_auth_e2e.py does, explicitly.
AUTH_MARK_ONLY = {"spf_fail_action": "mark", "spf_temperror_action": "mark", "dmarc_temperror_action": "accept"}

# The envelope policy's defaults (greylisting, FCrDNS, sender domain must resolve) would make
# every other test's first message a 451 or a policy refusal, so test instances run with the
# policy off; tests/integration/test_policy*.py turn it on (policy_mode = enforce or warn).
POLICY_OFF = {"policy_mode": "off"}


def _ports_below_ephemeral():
    """The 12,000 ports just below the kernel's ephemeral range: no outgoing
    connection (of a test client, or of pochtad) is ever given one of them."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(max(1024, low - 12000), low)


_PORT_RANGE = _ports_below_ephemeral()
_ports_given = set()


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now, never handed out before by this
    process. Asking the kernel for port 0 twice may return the same port (an
    instance's SMTP and submission listeners then collide), and an ephemeral
    port can be taken by an outgoing connection before the daemon binds it;
    a probed port below the ephemeral range, remembered once given, has
    neither race."""
    for _ in range(len(_PORT_RANGE)):
        port = random.choice(_PORT_RANGE)
        if port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORT_RANGE.start}-{_PORT_RANGE.stop - 1}")


def wait_port(host, port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port}")


class PochtaInstance:
    def __init__(self, workdir, dns=None, hostname="mx.example.test", domain="example.test"):
        self.dir = str(workdir)
        self.hostname = hostname
        self.domain = domain
        self.port = free_port()
        # The address smtp_listen binds; a test that moves the listener (e.g. to the
        # address an MX record names) sets smtp_listen and this together.
        self.listen_host = "127.0.0.1"
        # Submission ports are always our own free ports: `pochta init` would
        # otherwise default them to *:587 and *:465, shared by every instance.
        self.submission_port = free_port()
        self.submissions_port = free_port()
        self.conf = os.path.join(self.dir, "pochta.conf")
        self.log_path = os.path.join(self.dir, "pochtad.log")
        self.proc = None
        args = [POCHTA, "init", self.dir, "--hostname", hostname, "--domain", domain,
                "--smtp", f"127.0.0.1:{self.port}",
                "--submission", f"127.0.0.1:{self.submission_port}",
                "--submissions", f"127.0.0.1:{self.submissions_port}"]
        if dns is not None:
            args += ["--dns", f"{dns.address}:{dns.port}"]
        self.cli_raw(args)
        for key, value in {**AUTH_MARK_ONLY, **POLICY_OFF}.items():
            self.set(key, value)

    # --- configuration and accounts through the real CLI -------------------
    def cli_raw(self, args, check=True, input=None):
        r = subprocess.run(args, capture_output=True, text=True, input=input, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{args} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def cli(self, *args, check=True, input=None):
        return self.cli_raw([POCHTA, "-c", self.conf, *args], check=check, input=input)

    def set(self, key, value):
        """Set key = value in pochta.conf, replacing a commented or active line."""
        with open(self.conf) as f:
            lines = f.read().splitlines()
        pat = re.compile(r"^\s*#?\s*" + re.escape(key) + r"\s*=")
        lines = [l for l in lines if not pat.match(l)]
        lines.append(f"{key} = {value}")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def add_user(self, address, password="secret-pass"):
        pw = os.path.join(self.dir, "pw.tmp")
        with open(pw, "w") as f:
            f.write(password + "\n")
        self.cli("user", "add", address, "--password-file", pw)
        os.unlink(pw)

    # --- the daemon ----------------------------------------------------------
    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([POCHTAD, "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.listen_host, self.port)
        except TimeoutError:
            self.proc.kill()
            raise AssertionError("pochtad did not start:\n" + self.read_log())
        return self

    def kill(self):
        """SIGKILL: a crash, nothing flushed, no clean-up."""
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()

    def stop(self):
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("pochtad did not stop on SIGTERM:\n" + self.read_log()[-4000:])
        self.proc = None
        self.log.close()
        log = self.read_log()
        bad = [m for m in SANITIZER_MARKERS if m in log]
        assert not bad, f"sanitizer report in pochtad log:\n{log[-8000:]}"
        assert rc == 0, f"pochtad exited {rc}:\n{log[-4000:]}"

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, qid, pattern, timeout=30.0):
        """`pochta log QID` once it matches the regular expression pattern."""
        deadline = time.time() + timeout
        out = ""
        while time.time() < deadline:
            out = self.cli("log", qid, check=False).stdout
            if re.search(pattern, out):
                return out
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in the log of {qid}:\n{out}\n{self.read_log()[-5000:]}")

    # --- mailboxes -------------------------------------------------------------
    def maildir(self, address):
        local, domain = address.split("@")
        return os.path.join(self.dir, "mail", domain, local)

    def messages(self, address):
        """Contents (bytes) of every message in the mailbox's new/ directory."""
        new = os.path.join(self.maildir(address), "new")
        if not os.path.isdir(new):
            return []
        out = []
        for name in sorted(os.listdir(new)):
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, address, count, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            msgs = self.messages(address)
            if len(msgs) >= count:
                return msgs
            time.sleep(0.05)
        raise AssertionError(f"{address}: {len(self.messages(address))} messages, wanted {count}\n"
                             + self.read_log()[-4000:])

    def wait_message_matching(self, address, predicate, timeout=30.0):
        """The first message in ADDRESS's Maildir for which predicate(bytes) holds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.messages(address):
                if predicate(m):
                    return m
            time.sleep(0.05)
        raise AssertionError(f"{address}: no matching message among {self.messages(address)!r}")
