"""outbound - `bench/run.sh --outbound` (and the second table of `make
bench`): how fast pochta and Postfix deliver relayed mail to remote servers,
the same load to the same sink, one table with ratios. Run as root.

What runs (all on loopback, in one temporary directory):
  - the sink: Postfix's smtp-sink, one process per destination on
    127.0.1.K:PORT (K = 1..50), counting the messages it receives (-c);
  - DNS: the bench's NSD also serves zone out.test, where each destination
    domain dK.out.test has `MX 10 mx.dK.out.test` and `mx.dK A 127.0.1.K`;
  - pochta relays for 127.0.0.0/8 (trusted_networks) and finds each sink
    through those MX records (remote_smtp_port = the sink's port);
  - Postfix relays for mynetworks and routes each domain with a
    transport_maps entry `smtp:[127.0.1.K]:PORT` (its resolver is the
    system's, which cannot be pointed at a port, so it does no DNS);
  - the load: for each destination one smtp-source process sending its
    share of the messages (2 KB bodies, from bench@bench.test to
    user@dK.out.test) to the server's port 25-style listener, all started
    at once.
Each run is timed from the start of the load: until every smtp-source has
exited (accepted msg/s) and until the sinks have received every message
(delivered msg/s, the number in the table). Then the bench waits until the
server's queue is empty and checks that every sink got exactly its share
(a lost, misrouted or duplicated message fails the run).
Details and the latest numbers: docs/bench.md.
"""
import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

from servers import (CLIENT_NAME, SENDER, Pochta, Postfix, add_common_args, finish, free_port, run, script_main,
                     start_dns)

SINK_NET = "127.0.1."     # destination K listens on 127.0.1.K
ZONE = "out.test"
MAX_DESTS = 250           # 127.0.1.1 .. 127.0.1.250
LOAD_SESSIONS = 20        # injecting sessions in all, at least one per destination
DRAIN_TIMEOUT = 300.0     # seconds to wait for a run's messages to reach the sinks
MESG_RE = re.compile(rb"mesg=(\d+)")


def log(msg):
    print(f"outbound: {msg}", file=sys.stderr, flush=True)


def dest_domain(k):
    return f"d{k}.{ZONE}"


def out_zone(n):
    """Records of zone out.test: n destination domains, each with its own MX host."""
    rrs = []
    for k in range(1, n + 1):
        rrs += [f"d{k} IN MX 10 mx.d{k}", f"mx.d{k} IN A {SINK_NET}{k}"]
    return {ZONE: rrs}


class Sinks:
    """smtp-sink on SINK_NET.K:port for K = 1..n; each counts what it received."""

    def __init__(self, workdir, n):
        self.dir = os.path.join(workdir, "sink")
        os.makedirs(self.dir)
        self.port = free_port(f"{SINK_NET}1")
        self.procs, self.outs = [], []
        for k in range(1, n + 1):
            out = os.path.join(self.dir, f"sink{k}.out")
            with open(out, "wb") as f:
                # -c: counters on stdout after each message; -u: it drops root
                self.procs.append(subprocess.Popen(
                    ["smtp-sink", "-4", "-c", "-u", "nobody", "-h", f"mx.d{k}.{ZONE}",
                     "-m", "1000", f"{SINK_NET}{k}:{self.port}", "1024"],
                    stdout=f, stderr=subprocess.STDOUT))
            self.outs.append(out)
        time.sleep(0.3)
        for k, p in enumerate(self.procs, 1):
            if p.poll() is not None:
                raise RuntimeError(f"smtp-sink on {SINK_NET}{k}:{self.port} exited ({p.returncode})")

    def count(self, k):
        """Messages sink k received so far (its last counter line)."""
        with open(self.outs[k - 1], "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 256))
            found = MESG_RE.findall(f.read())
        return int(found[-1]) if found else 0

    def counts(self, n):
        return [self.count(k) for k in range(1, n + 1)]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


class PochtaRelay(Pochta):
    """pochta as a relay for loopback clients, delivering to the sink's port."""

    def __init__(self, build, workdir, dns, sink_port, workers):
        super().__init__(build, workdir, dns)
        self.sink_port, self.workers = sink_port, workers

    def setup(self):
        super().setup()
        self.set("trusted_networks", "127.0.0.0/8")
        self.set("remote_smtp_port", str(self.sink_port))
        if self.workers:
            self.set("queue_workers", str(self.workers))
            self.changed.append(f"queue_workers = {self.workers}")
        return self


class PostfixRelay(Postfix):
    """Postfix as a relay for mynetworks, each destination routed to its sink."""

    def __init__(self, workdir, sink_port, n):
        super().__init__(workdir)
        self.sink_port, self.ndest = sink_port, n

    def main_cf(self):
        cf = super().main_cf()
        cf["transport_maps"] = f"texthash:{self.dir}/transport"
        return cf

    def setup(self):
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "transport"), "w") as f:
            for k in range(1, self.ndest + 1):
                f.write(f"{dest_domain(k)} smtp:[{SINK_NET}{k}]:{self.sink_port}\n")
        return super().setup()


def inject(server, n, count, size):
    """Start one smtp-source per destination, count/n messages each, all at
    once; return the processes."""
    sessions = max(1, LOAD_SESSIONS // n)
    procs = []
    for k in range(1, n + 1):
        cmd = ["smtp-source", "-4", "-s", str(sessions), "-m", str(count // n), "-l", str(size),
               "-M", CLIENT_NAME, "-f", SENDER, "-t", f"user@{dest_domain(k)}", f"127.0.0.1:{server.port}"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    return procs


def one_run(server, sinks, n, count, size):
    """(accept seconds, delivery seconds) of count messages over n destinations."""
    base = sinks.counts(n)
    t0 = time.monotonic()
    procs = inject(server, n, count, size)
    t_acc = t_del = None
    deadline = t0 + DRAIN_TIMEOUT
    while t_acc is None or t_del is None:
        now = time.monotonic()
        if t_acc is None and all(p.poll() is not None for p in procs):
            t_acc = now
            bad = [p for p in procs if p.returncode != 0]
            if bad:
                out = bad[0].stdout.read().decode(errors="replace")
                raise RuntimeError(f"{server.name}: smtp-source failed ({bad[0].returncode}): {out}\n"
                                   f"server log:\n{server.log_tail()}")
        if t_del is None and sum(sinks.counts(n)) - sum(base) >= count:
            t_del = now
        if not server.alive():
            raise RuntimeError(f"{server.name} died:\n{server.log_tail()}")
        if now > deadline:
            got = sum(sinks.counts(n)) - sum(base)
            raise RuntimeError(f"{server.name}: {got} of {count} messages at the sinks and {server.pending()} "
                               f"still queued after {DRAIN_TIMEOUT:.0f}s:\n{server.log_tail()}")
        time.sleep(0.02)
    for p in procs:
        p.stdout.close()
    check_drained(server, sinks, n, count, base)
    return t_acc - t0, t_del - t0


def check_drained(server, sinks, n, count, base):
    """Wait for an empty queue, then check each sink got exactly its share."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while server.pending():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: {server.pending()} messages still queued after delivery")
        time.sleep(0.1)
    time.sleep(0.3)  # a duplicate would show up now
    got = [c - b for c, b in zip(sinks.counts(n), base)]
    wrong = {k: g for k, g in enumerate(got, 1) if g != count // n}
    if wrong:
        raise RuntimeError(f"{server.name}: sinks got {wrong} messages (destination: count), "
                           f"{count // n} each were sent\nserver log:\n{server.log_tail()}")


def cell(servers, sinks, n, count, size, repeat):
    """Runs of every server for n destinations, the servers taking turns in
    alternating order; per server a list of (accept s, delivery s)."""
    runs = [[] for _ in servers]
    for r in range(repeat):
        order = range(len(servers)) if r % 2 == 0 else reversed(range(len(servers)))
        for i in order:
            runs[i].append(one_run(servers[i], sinks, n, count, size))
    return runs


def ratio(a, b):
    return f"{a / b:.3g}x" if b else "-"


def print_table(args, rows, version, workers):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"\noutbound: pochta vs Postfix {version}, {now}, {platform.node()}, "
          f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, load {' '.join(load)}")
    print(f"relayed from 127.0.0.1 to smtp-sink on 127.0.1.K, one domain per destination, "
          f"{args.size} byte bodies, median of {args.repeat} runs\npochta queue_workers = {workers}; "
          f"pochta finds the sinks by MX (NSD), Postfix by transport_maps; no TLS (the sink offers none)\n")
    fmt = "{:<36} {:>10} {:>10} {:>15}"
    print(fmt.format("", "pochta", "Postfix", "pochta/Postfix"))
    for n, (count, deliv, acc) in rows.items():
        print(fmt.format(f"delivered msg/s, {n} destinations", f"{deliv[0]:.0f}", f"{deliv[1]:.0f}",
                         ratio(deliv[0], deliv[1])))
    for n, (count, deliv, acc) in rows.items():
        print(fmt.format(f"(accepted msg/s, {n} destinations)", f"{acc[0]:.0f}", f"{acc[1]:.0f}",
                         ratio(acc[0], acc[1])))
    print(f"({', '.join(f'{c} messages per run at {n}' for n, (c, _, _) in rows.items())}; "
          f"delivered = messages / time from the start of the load to the last message at the sinks)")


def parse_args():
    ap = argparse.ArgumentParser(description="outbound delivery: pochta vs Postfix (see docs/bench.md)")
    ap.add_argument("--dests", default="10,50", help="destination counts (default 10,50)")
    ap.add_argument("--messages", type=int, default=int(os.environ.get("BENCH_OUT_MESSAGES", "2000")),
                    help="messages per run, rounded down to a multiple of the destinations (default 2000)")
    ap.add_argument("--size", type=int, default=2048, help="body bytes (default 2048)")
    ap.add_argument("--queue-workers", type=int, default=0,
                    help="pochta's queue_workers (default: what pochta init writes)")
    add_common_args(ap)
    return ap.parse_args()


def main():
    args = parse_args()
    dests = [int(d) for d in args.dests.split(",")]
    if not all(1 <= n <= MAX_DESTS for n in dests):
        raise SystemExit(f"outbound: --dests must be between 1 and {MAX_DESTS}")
    version = run(["postconf", "-dh", "mail_version"]).strip()
    work = tempfile.mkdtemp(prefix="pochta-outbench-", dir=args.dir)
    servers, dns, sinks = [], None, None
    try:
        log(f"work directory {work}")
        ndest = max(dests)
        dns = start_dns(work, out_zone(ndest))
        sinks = Sinks(work, ndest)
        log(f"{ndest} smtp-sinks on {SINK_NET}1-{ndest}:{sinks.port}")
        servers = [PochtaRelay(args.build, work, dns, sinks.port, args.queue_workers).setup(),
                   PostfixRelay(work, sinks.port, ndest).setup()]
        workers = next(l.split(" = ", 1)[1] for l in
                       run([os.path.join(servers[0].build, "pochtad"), "-c", servers[0].conf, "-n"]).splitlines()
                       if l.startswith("queue_workers = "))
        for s in servers:
            s.start()
            log(f"{s.name} listening on 127.0.0.1:{s.port}")
            one_run(s, sinks, min(10, ndest), 10 * min(10, ndest), args.size)  # warm-up
        rows = {}
        for n in dests:
            count = max(args.messages // n, 1) * n
            runs = cell(servers, sinks, n, count, args.size, args.repeat)
            deliv = [statistics.median(count / d for _, d in r) for r in runs]
            acc = [statistics.median(count / a for a, _ in r) for r in runs]
            for srv, r in zip(servers, runs):
                log(f"{srv.name}: {n} destinations, {count} messages: delivered "
                    f"{' '.join(f'{count / d:.0f}' for _, d in r)} msg/s, accepted "
                    f"{' '.join(f'{count / a:.0f}' for a, _ in r)} msg/s")
            rows[n] = (count, deliv, acc)
        print_table(args, rows, version, workers)
    finally:
        finish(work, args.keep, log, *servers, sinks, dns)


if __name__ == "__main__":
    script_main("outbound", main)
