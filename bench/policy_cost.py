"""policy_cost - `bench/run.sh --policy` (and the third table of `make
bench`): what the envelope policy costs, in pochta and in Postfix with
equivalent restrictions. Run as root.

Four servers, each in its own directory, on the same load (smtp-source, one
message per connection, from 127.0.0.1 with HELO mta.bench.test):
  - pochta on: `pochta init` with its default policy (minus greylisting and
    per-IP rate limits for the load generator, as `make bench` sets); every
    default check runs: PTR + forward-confirmed name of the client,
    dynamic-name heuristic, HELO syntax/FQDN/not-us/resolves, sender FQDN and
    domain (MX, A, AAAA), own-domain forgery, recipient FQDN, relay, bounce
    check; answers come from the daemon's own unbound cache (warm);
  - pochta off: the same with `policy_mode = off`;
  - Postfix on: the restrictions of POSTFIX_ON (the mapping is in
    docs/bench.md), resolving through the bench's NSD on port 53 of a spare
    loopback address (servers.Postfix resolver=); glibc has no cache, so
    every session asks NSD;
  - Postfix off: the same Postfix without restrictions (its defaults,
    including the client name lookup through NSD).
Before measuring, each server gets one session from 127.0.0.2, which has no
PTR: the "on" servers must refuse it and the "off" ones accept it, and
Postfix's log must name 127.0.0.1 as mta.bench.test (a name only NSD knows),
or the bench fails. Runs are interleaved (bench.cell), medians of --repeat;
a lost message or a refused load fails the bench. Also printed: pochta's CPU
time per message (less sensitive to a shared disk than messages/s).
Issue 3's target: pochta's policy costs under 10% of throughput.

Usage: bench/run.sh --policy [--seconds S] [--sessions 10,50] [--sizes "2 KB"] [--repeat N] [--keep]
Env: POCHTA_BUILD (default build/), BENCH_DIR (default /var/tmp, a real disk),
BENCH_SECONDS, BENCH_REPEAT.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench  # noqa: E402  (cell(): interleaved, drained, median of runs)
from servers import (CLIENT_NAME, DOMAIN, HOSTNAME, RCPT, SENDER, Pochta, Postfix, add_common_args, finish,  # noqa: E402
                     script_main, start_dns)
from smtpwire import Wire  # noqa: E402  (tests/integration, on the path through servers)

NO_PTR_CLIENT = "127.0.0.2"  # the bench zones give only 127.0.0.1 a PTR
TARGET_COST = 10.0           # issue 3: the policy costs under 10% of throughput

# pochta's default checks as Postfix restrictions (docs/bench.md has the
# table). %(dir)s is the instance's directory, where the maps are written.
POSTFIX_ON = {
    "smtpd_helo_required": "yes",
    "smtpd_client_restrictions": "reject_unknown_reverse_client_hostname, reject_unknown_client_hostname, "
                                 "check_reverse_client_hostname_access regexp:%(dir)s/etc/dynamic.regexp",
    "smtpd_helo_restrictions": "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname, "
                               "check_helo_access texthash:%(dir)s/etc/helo_self, reject_unknown_helo_hostname",
    "smtpd_sender_restrictions": "reject_non_fqdn_sender, reject_unknown_sender_domain, "
                                 "check_sender_access texthash:%(dir)s/etc/own_domains",
    "smtpd_relay_restrictions": "reject_unauth_destination",
    "smtpd_recipient_restrictions": "reject_non_fqdn_recipient",
    "smtpd_data_restrictions": "reject_multi_recipient_bounce",
}

# Maps for POSTFIX_ON. dynamic.regexp: pochta's heuristic (policy_conf.c)
# compares the name with the client's own octets, which a regexp cannot, so
# any four dotted/dashed numbers or a pool word; WARN, as pochta's default
# client_dynamic:warn. Keys that are addresses are left alone.
POSTFIX_MAPS = {
    "dynamic.regexp": "/^[0-9.:]+$/ DUNNO\n"
                      "/[0-9]{1,3}[-.][0-9]{1,3}[-.][0-9]{1,3}[-.][0-9]{1,3}/ WARN client name looks dynamic\n"
                      "/(^|[^a-z])(dyn|dynamic|dhcp|pool|ppp|pppoe|dsl|adsl|xdsl|cable|dialup|dial|broadband|"
                      "residential|customer|cust|client|dip)([^a-z]|$)/ WARN client name looks dynamic\n",
    "helo_self": f"{HOSTNAME} REJECT you are not us\n{DOMAIN} REJECT you are not us\n"
                 "[127.0.0.1] REJECT you are not us\n",
    "own_domains": f"{DOMAIN} REJECT our own domain: send through submission with AUTH\n",
}


class PochtaNamed(Pochta):
    """A pochtad in its own directory, with its own label in the table."""

    def __init__(self, build, workdir, dns, name, settings):
        super().__init__(build, os.path.join(workdir, name), dns)
        self.name = name
        self.extra = settings

    def setup(self):
        super().setup()
        for key, value in self.extra:
            self.set(key, value)
        return self


class PostfixPolicy(Postfix):
    """Postfix resolving through the bench's NSD, with POSTFIX_ON or without."""

    def __init__(self, workdir, name, resolver, restrictions):
        super().__init__(workdir, name, resolver)
        self.restrictions = restrictions

    def main_cf(self):
        cf = super().main_cf()
        if self.restrictions:
            cf.update({k: v % {"dir": self.dir} for k, v in POSTFIX_ON.items()})
        return cf

    def setup(self):
        super().setup()
        for name, text in POSTFIX_MAPS.items():
            with open(os.path.join(self.etc, name), "w") as f:
                f.write(text)
        self.postfix("check")
        return self


def log(msg):
    print(f"policy: {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid):
    """User + system CPU seconds pochtad used so far (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe_no_ptr(server):
    """One session from NO_PTR_CLIENT up to RCPT; the first refusal (code,
    text), or None when MAIL and RCPT were both accepted."""
    w = Wire(server.port, source=NO_PTR_CLIENT)
    try:
        for line in (None, f"EHLO {CLIENT_NAME}", f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{RCPT}>"):
            r = w.reply() if line is None else w.cmd(line)
            if r.code >= 400:
                return r.code, r.text
        w.cmd("QUIT")
        return None
    finally:
        w.sock.close()


def check_policy_active(servers):
    """Fail unless the "on" servers refuse a client without PTR, the "off"
    ones accept it, and each Postfix logged 127.0.0.1 under its DNS name."""
    for s in servers:
        refusal = probe_no_ptr(s)
        on = s.name.endswith("-on")
        if on != (refusal is not None):
            raise RuntimeError(f"{s.name}: a client without PTR was {'refused' if refusal else 'accepted'}: "
                               f"{refusal}\n{s.log_tail()}")
        log(f"{s.name}: client without PTR: {'refused: %d %s' % refusal if refusal else 'accepted'}")
        if isinstance(s, Postfix):
            with open(os.path.join(s.dir, "maillog"), errors="replace") as f:
                text = f.read()
            if f"connect from {CLIENT_NAME}[127.0.0.1]" not in text:
                raise RuntimeError(f"{s.name} did not resolve 127.0.0.1 to {CLIENT_NAME} through NSD:\n"
                                   f"{s.log_tail()}")


def pct(a, b):
    return 100.0 * (1 - a / b) if b else 0.0


def load_average():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg has them."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def print_table(args, rows, version, load):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nenvelope policy on vs off: pochta and Postfix {version}, {now}, {platform.node()}, "
          f"{os.cpu_count()} CPUs, load {load} before the bench")
    print(f"one message per connection (smtp-source), median of {args.repeat} runs, warm DNS cache in pochta; "
          f"cost = 1 - on/off\n")
    print(f"{'sessions':>8} {'size':>6} {'pochta on':>10} {'off':>6} {'cost':>7} {'Postfix on':>11} {'off':>6} "
          f"{'cost':>7} {'on p/P':>7} {'pochta CPU ms/msg on':>21} {'off':>6} {'cost':>7}")
    for (sessions, label), (med, cpu) in rows.items():
        print(f"{sessions:>8} {label:>6} {med[0]:>10.0f} {med[1]:>6.0f} {pct(med[0], med[1]):>6.1f}% "
              f"{med[2]:>11.0f} {med[3]:>6.0f} {pct(med[2], med[3]):>6.1f}% "
              f"{bench.ratio(med[0], med[2]):>7} {cpu[0]:>21.3f} {cpu[1]:>6.3f} {-pct(cpu[0], cpu[1]):>6.1f}%")
    print(f"\ntarget (issue 3): pochta's policy costs < {TARGET_COST:.0f}% of msg/s")
    for (sessions, label), (med, _) in rows.items():
        cost = pct(med[0], med[1])
        print(f"  {label}, {sessions} sessions: {cost:.1f}%  {'met' if cost < TARGET_COST else 'NOT MET'}")


def measure(servers, args):
    """{(sessions, size label): ([median msg/s per server], [pochta on/off CPU ms/msg])}."""
    rows = {}
    for sessions in [int(x) for x in args.sessions.split(",")]:
        for label in [s.strip() for s in args.sizes.split(",")]:
            cpu0 = [cpu_seconds(s.proc.pid) for s in servers[:2]]
            med, counts, runs = bench.cell(servers, sessions, bench.SIZES[label], args.seconds, args.repeat)
            for s, c, r in zip(servers, counts, runs):
                log(f"{s.name}: {label}, {sessions} sessions: {' '.join(f'{x:.0f}' for x in r)} msg/s "
                    f"({c} messages per run)")
            sent = [max(2 * sessions, 20) + c * args.repeat for c in counts[:2]]
            cpu = [1000.0 * (cpu_seconds(s.proc.pid) - c0) / n for s, c0, n in zip(servers, cpu0, sent)]
            rows[(sessions, label)] = (med, cpu)
    return rows


def parse_args():
    ap = argparse.ArgumentParser(description="envelope policy cost, pochta and Postfix (see docs/bench.md)")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "4")))
    ap.add_argument("--sessions", default="10,50")
    ap.add_argument("--sizes", default="2 KB,100 KB")
    add_common_args(ap)
    return ap.parse_args()


def main():
    args = parse_args()
    version = subprocess.run(["postconf", "-dh", "mail_version"], capture_output=True, text=True).stdout.strip()
    load = load_average()  # the bench's own 50 sessions (and smtpd processes) would count later
    work = tempfile.mkdtemp(prefix="pochta-policy-bench-", dir=args.dir)
    dns, servers = None, []
    try:
        log(f"work directory {work}")
        dns = start_dns(work, resolver=True)
        log(f"NSD on {dns.server} (pochta) and {dns.resolver}:53 (Postfix)")
        for s in (PochtaNamed(args.build, work, dns, "pochta-on", [("policy_mode", "enforce")]),
                  PochtaNamed(args.build, work, dns, "pochta-off", [("policy_mode", "off")]),
                  PostfixPolicy(work, "postfix-on", dns.resolver, True),
                  PostfixPolicy(work, "postfix-off", dns.resolver, False)):
            servers.append(s)
            s.setup().start()
            bench.warm_up(s)  # pochta's DNS cache, lazy initialisation, page cache
        check_policy_active(servers)
        print_table(args, measure(servers, args), version, load)
    finally:
        finish(work, args.keep, log, *servers, dns)


if __name__ == "__main__":
    script_main("policy", main)
