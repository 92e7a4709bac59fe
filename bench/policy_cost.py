"""policy_cost - what the envelope policy costs: accepted messages/s of pochta
with its default policy on (as `pochta init` writes it, minus greylisting and
per-IP rate limits for the load generator, as in `make bench`) against the same
server with `policy_mode = off`, warm DNS cache, same machine, interleaved
runs, and the daemon's CPU time per message (less sensitive to a shared disk
than messages/s). Issue 3's target: the policy costs under 10% of throughput.

Usage: /usr/bin/python3 bench/policy_cost.py [--seconds S] [--sessions 10,50] [--repeat N]
Env: POCHTA_BUILD (default build/), BENCH_DIR (default /var/tmp, a real disk).
Needs nsd and smtp-source (scripts/deps.sh --bench). The policy run exercises
every default check: PTR + forward-confirmed name of the client, dynamic-name
heuristic, HELO syntax/FQDN/not-us/resolves (A, AAAA, MX), sender FQDN and
domain (MX, A, AAAA), own-domain forgery, recipient FQDN, bounce check;
cached answers come from the daemon's own unbound cache.
"""
import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench  # noqa: E402  (cell(): interleaved, drained, median of runs)
from servers import Pochta, start_dns  # noqa: E402


class PochtaNamed(Pochta):
    """A second pochtad in its own directory, with its own label in the table."""

    def __init__(self, build, workdir, dns, name, settings):
        super().__init__(build, os.path.join(workdir, name), dns)
        self.name = name
        self.extra = settings

    def setup(self):
        super().setup()
        for key, value in self.extra:
            self.set(key, value)
        return self


def cpu_seconds(pid):
    """User + system CPU seconds pochtad used so far (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--sessions", default="10,50")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    build = os.environ.get("POCHTA_BUILD", os.path.join(HERE, "..", "build"))
    work = tempfile.mkdtemp(prefix="pochta-policy-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    dns = servers = None
    try:
        dns = start_dns(work)
        servers = [PochtaNamed(build, work, dns, "policy-on", [("policy_mode", "enforce")]).setup().start(),
                   PochtaNamed(build, work, dns, "policy-off", [("policy_mode", "off")]).setup().start()]
        for s in servers:  # warm the DNS cache and lazy initialisation
            bench.smtp_source(s, 5, 50, 2048)
            bench.drain(s, 50)
        print(f"{'sessions':>8} {'size':>6} {'on msg/s':>10} {'off msg/s':>10} {'cost':>7} "
              f"{'on cpu ms/msg':>14} {'off cpu ms/msg':>15} {'cpu cost':>9}")
        for sessions in [int(x) for x in args.sessions.split(",")]:
            for label, size in bench.SIZES.items():
                cpu0 = [cpu_seconds(s.proc.pid) for s in servers]
                med, counts, _ = bench.cell(servers, sessions, size, args.seconds, args.repeat)
                sent = [max(2 * sessions, 20) + c * args.repeat for c in counts]
                cpu = [1000.0 * (cpu_seconds(s.proc.pid) - c0) / n for s, c0, n in zip(servers, cpu0, sent)]
                cost = 100.0 * (1 - med[0] / med[1]) if med[1] else 0.0
                cpu_cost = 100.0 * (cpu[0] / cpu[1] - 1) if cpu[1] else 0.0
                print(f"{sessions:>8} {label:>6} {med[0]:>10.0f} {med[1]:>10.0f} {cost:>6.1f}% "
                      f"{cpu[0]:>14.3f} {cpu[1]:>15.3f} {cpu_cost:>8.1f}%", flush=True)
    finally:
        for s in servers or []:
            s.stop()
        if dns:
            dns.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
