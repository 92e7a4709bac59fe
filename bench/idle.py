"""idle - hold N idle SMTP connections open to 127.0.0.1:PORT.

    /usr/bin/python3 bench/idle.py PORT N

Each connection reads the 220 banner, sends EHLO and reads the whole 250
reply, then stays silent: the state of a client that is connected and
greeted but has not started a transaction. Prints "ready N" on stdout once
all N are in that state, then waits until stdin closes and closes them all.
Exits 1 (with the reason on stderr) if any connection fails.
"""
import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def read_reply(f):
    """Read one (possibly multi-line) SMTP reply; return its code."""
    while True:
        line = f.readline()
        if len(line) < 4:
            raise OSError(f"connection closed or short reply: {line!r}")
        if line[3:4] != b"-":
            return int(line[:3])


def open_one(port):
    """One greeted, idle connection (socket and its reader)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    code = read_reply(f)
    if code != 220:
        raise OSError(f"banner {code}")
    s.sendall(b"EHLO mta.bench.test\r\n")
    code = read_reply(f)
    if code != 250:
        raise OSError(f"EHLO answered {code}")
    return s, f


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(open_one, port) for _ in range(n)]
        conns = []
        for fu in futures:
            try:
                conns.append(fu.result())
            except OSError as e:
                print(f"idle.py: connection {len(conns) + 1} of {n} failed: {e}", file=sys.stderr)
                sys.exit(1)
    print(f"ready {len(conns)}", flush=True)
    sys.stdin.read()
    for s, f in conns:
        try:
            s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        f.close()
        s.close()


if __name__ == "__main__":
    main()
