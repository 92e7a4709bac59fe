"""bench - the first table of `make bench` (`bench/run.sh --inbound`): pochta
against Postfix on this machine, same load, same durability. Run through
bench/run.sh (as root).

Measures, for each server in turn (interleaved per cell, so a noisy
neighbour hurts both alike):
  - messages/s accepted at 1, 10, 50 and 200 concurrent sessions with 2 KB
    and 100 KB bodies: Postfix's own generator smtp-source, one message per
    connection (connect, EHLO, MAIL, RCPT, DATA, QUIT), timed from start to
    exit; each cell is sized from a short probe run to last about
    --seconds, and waits until every message is in the Maildir before the
    next cell starts (and checks none was lost or duplicated);
  - resident memory per idle connection: 1,000 connections that got the
    banner and sent EHLO (bench/idle.py); the sum of VmRSS (and of Pss, which
    splits shared pages between processes) over the server's processes
    before and after, divided by 1,000. pochta is one process; for Postfix
    it is master and every descendant (smtpd, qmgr, anvil, ...).
Details and the latest numbers: docs/bench.md.
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from servers import (CLIENT_NAME, RCPT, SENDER, Pochta, Postfix, add_common_args, finish, memory_kb, script_main,
                     start_dns)

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {"2 KB": 2048, "100 KB": 102400}
MIN_PER_CELL = 200       # messages; fewer make a run too short to time well
MAX_PER_CELL = 20000     # messages; keeps disk use and TIME_WAIT sockets bounded
DRAIN_TIMEOUT = 300.0    # seconds to wait for a cell's messages to reach the Maildir
TARGET_RATIO = 2.0       # issue 2: at least 2x Postfix at 50 sessions
TARGET_IDLE_KB = 20.0    # issue 2: under 20 KB per idle connection


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def smtp_source(server, sessions, count, size):
    """Send count messages over `sessions` parallel sessions; seconds taken."""
    cmd = ["smtp-source", "-4", "-s", str(sessions), "-m", str(count), "-l", str(size),
           "-M", CLIENT_NAME, "-f", SENDER, "-t", RCPT, f"127.0.0.1:{server.port}"]
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{server.name}: smtp-source failed ({r.returncode}): {r.stdout}{r.stderr}\n"
                           f"server log:\n{server.log_tail()}")
    return dt


def drain(server, expect):
    """Wait until every accepted message is in the Maildir and check the count;
    then move new/ aside for the next run."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        pending = server.pending()
        got = server.delivered() if pending == 0 else 0
        if pending == 0 and got >= expect:
            break
        if not server.alive():
            raise RuntimeError(f"{server.name} died:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: {server.delivered()} of {expect} messages delivered and {pending} still "
                               f"queued after {DRAIN_TIMEOUT:.0f}s:\n{server.log_tail()}")
        time.sleep(0.1)
    if got != expect:
        raise RuntimeError(f"{server.name}: {got} messages in the Maildir, {expect} were sent (duplicates?)")
    server.clear_mail()


def cell(servers, sessions, size, seconds, repeat):
    """Median accepted messages/s of each server for one (sessions, size) cell,
    and the message count of each run. A probe run sizes the measured runs;
    the servers take turns, in alternating order."""
    counts = []
    for s in servers:
        probe = max(2 * sessions, 20)
        rate = probe / smtp_source(s, sessions, probe, size)
        drain(s, probe)
        counts.append(min(max(int(rate * seconds), 3 * sessions, MIN_PER_CELL), MAX_PER_CELL))
    rates = [[] for _ in servers]
    for r in range(repeat):
        order = range(len(servers)) if r % 2 == 0 else reversed(range(len(servers)))
        for i in order:
            dt = smtp_source(servers[i], sessions, counts[i], size)
            drain(servers[i], counts[i])
            rates[i].append(counts[i] / dt)
    return [statistics.median(r) for r in rates], counts, rates


def warm_up(server):
    """A few messages first: lazy initialisation, DNS cache, page cache."""
    smtp_source(server, 10, 50, 2048)
    drain(server, 50)


def idle_memory(server, n):
    """(KB RSS, KB PSS, processes) per idle connection, n connections."""
    time.sleep(1)
    rss0, pss0 = memory_kb(server.pids())
    idle = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "idle.py"), str(server.port), str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = idle.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"{server.name}: could not hold {n} idle connections (idle.py said {line!r})\n"
                               f"server log:\n{server.log_tail()}")
        time.sleep(1)  # let the last sessions settle
        pids = server.pids()
        rss1, pss1 = memory_kb(pids)
    finally:
        idle.stdin.close()
        idle.wait(timeout=60)
    return (rss1 - rss0) / n, (pss1 - pss0) / n, len(pids)


def ratio(a, b):
    return f"{a / b:.3g}x" if b else "-"


def fs_info(path):
    """Device, type, options and (ext4) journal of the file system holding path."""
    path = os.path.realpath(path)
    best = None
    for line in open("/proc/mounts"):
        dev, mnt, typ, opts = line.split()[:4]
        inside = mnt == "/" or path == mnt or path.startswith(mnt + "/")
        if inside and (best is None or len(mnt) >= len(best[1])):
            best = (dev, mnt, typ, opts)
    if best is None:
        return "?"
    dev, mnt, typ, opts = best
    journal = ""
    if typ == "ext4":
        jbd = os.listdir("/proc/fs/jbd2") if os.path.isdir("/proc/fs/jbd2") else []
        name = os.path.basename(dev)
        journal = ", journal" if any(j.startswith(name + "-") for j in jbd) else ", no journal"
    return f"{dev} on {mnt}: {typ} {opts}{journal}"


def print_table(args, rows, mem, postfix_version):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\npochta vs Postfix {postfix_version}, {now}, {platform.node()}, "
          f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}")
    print(f"one message per connection (smtp-source), median of {args.repeat} runs; both fsync the queue "
          f"before 250 and deliver to a Maildir (fsync)\nqueue and Maildirs on: {fs_info(args.dir)}\n")
    fmt = "{:<34} {:>10} {:>10} {:>15}"
    print(fmt.format("", "pochta", "Postfix", "pochta/Postfix"))
    for (label, sessions), (p, x) in rows.items():
        name = f"msg/s {label}, {sessions} session{'s' if sessions > 1 else ''}"
        print(fmt.format(name, f"{p:.0f}", f"{x:.0f}", ratio(p, x)))
    if mem:
        (prss, ppss, _), (xrss, xpss, xn) = mem
        print(fmt.format(f"KB RSS per idle conn ({args.idle})", f"{prss:.1f}", f"{xrss:.1f}", ratio(prss, xrss)))
        print(fmt.format(f"KB PSS per idle conn ({args.idle})", f"{ppss:.1f}", f"{xpss:.1f}", ratio(ppss, xpss)))
        print(f"(memory: lower is better; Postfix ran {xn} processes while holding them)")
    print("\ntargets (issue 2):")
    for (label, sessions), (p, x) in rows.items():
        if sessions == 50:
            met = "met" if x and p / x >= TARGET_RATIO else "NOT MET"
            print(f"  >= {TARGET_RATIO:.0f}x Postfix at 50 sessions, {label}: {ratio(p, x)}  {met}")
    if mem:
        prss = mem[0][0]
        met = "met" if prss < TARGET_IDLE_KB else "NOT MET"
        print(f"  < {TARGET_IDLE_KB:.0f} KB per idle connection (pochta RSS): {prss:.1f} KB  {met}")


def parse_args():
    ap = argparse.ArgumentParser(description="pochta vs Postfix (see docs/bench.md)")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "4")),
                    help="target length of each measured run (default 4)")
    ap.add_argument("--sessions", default="1,10,50,200")
    ap.add_argument("--sizes", default="2 KB,100 KB")
    ap.add_argument("--idle", type=int, default=1000, help="idle connections (0 = skip)")
    add_common_args(ap)
    return ap.parse_args()


def main():
    args = parse_args()
    sessions = [int(s) for s in args.sessions.split(",")]
    sizes = [s.strip() for s in args.sizes.split(",")]
    version = subprocess.run(["postconf", "-dh", "mail_version"], capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="pochta-bench-", dir=args.dir)
    servers, dns = [], None
    try:
        log(f"work directory {work}")
        dns = start_dns(work)
        servers = [Pochta(args.build, work, dns).setup(), Postfix(work).setup()]
        for s in servers:
            s.start()
            log(f"{s.name} listening on 127.0.0.1:{s.port}")
            warm_up(s)
        mem = None
        if args.idle:
            mem = [idle_memory(s, args.idle) for s in servers]
            for s, (rss, pss, n) in zip(servers, mem):
                log(f"{s.name}: {rss:.1f} KB RSS, {pss:.1f} KB PSS per idle connection ({n} processes)")
        rows = {}
        for label in sizes:
            for n in sessions:
                med, counts, runs = cell(servers, n, SIZES[label], args.seconds, args.repeat)
                for srv, c, r in zip(servers, counts, runs):
                    log(f"{srv.name}: {label}, {n} session(s): {' '.join(f'{x:.0f}' for x in r)} msg/s "
                        f"({c} messages per run)")
                rows[(label, n)] = tuple(med)
        print_table(args, rows, mem, version)
    finally:
        finish(work, args.keep, log, *servers, dns)


if __name__ == "__main__":
    script_main("bench", main)
