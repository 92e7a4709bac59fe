"""Outbound connection reuse and the per-destination session limit, end to end:
a real pochtad forwards mail (alias -> remote address) to aiosmtpd peers found
through MX records of reuse.test in the test NSD, and the peers count what
they see: connections, the most open at once, RSET commands, messages.

Peers (one port): 127.0.0.220 (peer.reuse.test) offers STARTTLS and can hold
each DATA reply for a while; 127.0.0.221 (drop.reuse.test) closes the
connection after each transaction; 127.0.0.222 (rset.reuse.test) answers RSET
with 421 and closes.
"""
import asyncio
import re
import smtplib
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from pochta_instance import free_port
from smtppeer import start_peer

PEER_IP, DROP_IP, RSET_IP = "127.0.0.220", "127.0.0.221", "127.0.0.222"


class Peer:
    """Counts connections (the most open at once too), RSETs and messages; delay holds each DATA reply."""

    def __init__(self):
        self.open = 0
        self.delay = 0.0
        self.reset()

    def reset(self):
        self.connections = 0
        self.max_open = 0
        self.rsets = 0
        self.messages = []   # (subject line, over TLS)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        subject = re.search(rb"Subject: ([^\r\n]*)", envelope.content)
        self.messages.append((subject.group(1).decode() if subject else "", session.ssl is not None))
        return "250 2.0.0 Ok: queued as REUSE%d" % len(self.messages)


class CountingSMTP(SMTP):
    counted = False

    def connection_made(self, transport):
        if self._original_transport is None:   # not the second call after STARTTLS
            h = self.event_handler
            h.connections += 1
            h.open += 1
            h.max_open = max(h.max_open, h.open)
            self.counted = True
        super().connection_made(transport)

    def connection_lost(self, error):
        if self.counted:
            self.counted = False
            self.event_handler.open -= 1
        super().connection_lost(error)

    async def smtp_RSET(self, arg):
        self.event_handler.rsets += 1
        await super().smtp_RSET(arg)


class DropSMTP(CountingSMTP):
    async def smtp_DATA(self, arg):
        await super().smtp_DATA(arg)
        if self.transport is not None:
            self.transport.close()   # after the 250: the cached connection is dead


class RsetSMTP(CountingSMTP):
    async def smtp_RSET(self, arg):
        self.event_handler.rsets += 1
        await self.push("421 4.4.2 rset.reuse.test closing the connection, try a new one")
        self.transport.close()


def controller_for(cls):
    """An aiosmtpd Controller class whose sessions are cls (a counting SMTP subclass)."""
    class C(Controller):
        def factory(self):
            return cls(self.handler, **self.SMTP_kwargs)
    return C


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    port = free_port(PEER_IP)
    main, drop, rset = Peer(), Peer(), Peer()
    ctls = [start_peer(main, PEER_IP, port, "peer.reuse.test", tls_dir=tmp_path_factory.mktemp("reuse-peer"),
                       controller=controller_for(CountingSMTP)),
            start_peer(drop, DROP_IP, port, "drop.reuse.test", controller=controller_for(DropSMTP)),
            start_peer(rset, RSET_IP, port, "rset.reuse.test", controller=controller_for(RsetSMTP))]
    yield port, main, drop, rset
    for c in ctls:
        c.stop()


@pytest.fixture
def fresh(peers):
    """The peers with their counters at zero and no connection of an earlier test still open."""
    port, *all_peers = peers
    deadline = time.time() + 10
    while any(p.open for p in all_peers) and time.time() < deadline:
        time.sleep(0.05)
    for p in all_peers:
        assert p.open == 0, "a connection of an earlier test is still open"
        p.reset()
        p.delay = 0.0
    return peers


def start(pochta_factory, port, **settings):
    return pochta_factory(remote_smtp_port=str(port), retry_min="1s", retry_max="2s", remote_timeout="10s",
                          **settings)


def send(inst, alias, target, n, tag):
    """n messages to alias (forwarded to target) in one SMTP session; their queue IDs."""
    inst.cli("alias", "add", alias, target)
    qids = []
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("good.sender.test")
        for i in range(n):
            body = f"From: carol@good.sender.test\r\nTo: {alias}\r\nSubject: {tag} {i}\r\n\r\nmessage {i}\r\n"
            s.mail("carol@good.sender.test")
            code, _ = s.rcpt(alias)
            assert code == 250
            code, msg = s.data(body.encode())
            assert code == 250, msg
            qids.append(re.search(rb"queued as ([0-9A-F]{16})", msg).group(1).decode())
    return qids


def wait_removed(inst, qid):
    """The message log of qid once the message left the queue."""
    return inst.wait_log(qid, r"\bremoved\b", 25.0)


def attempts(logs):
    """reused=yes/no of every SMTP attempt in the given message logs."""
    return [m.group(1) for log in logs for m in re.finditer(r"attempt .*reused=(yes|no)", log)]


def test_messages_to_one_destination_share_connections_over_tls(pochta_factory, fresh):
    port, peer, _, _ = fresh
    peer.delay = 0.2
    inst = start(pochta_factory, port)
    qids = send(inst, "many@example.test", "user@one.reuse.test", 6, "reuse")
    logs = [wait_removed(inst, q) for q in qids]
    assert sorted(s for s, _ in peer.messages) == ["reuse %d" % i for i in range(6)]
    assert all(tls for _, tls in peer.messages), "a reused connection lost its TLS session"
    assert all("delivered" in log and "deferred" not in log for log in logs)
    used = attempts(logs)
    assert len(used) == 6
    # every fresh attempt is one connection at the peer; every reuse was checked with RSET first
    assert peer.connections < 6
    assert used.count("no") == peer.connections
    assert used.count("yes") == 6 - peer.connections == peer.rsets
    assert all(re.search(r"attempt .*tls=TLSv1\.[23] ", log) for log in logs)


def test_sessions_per_destination_are_limited(pochta_factory, fresh):
    port, peer, _, _ = fresh
    peer.delay = 0.5   # each transaction holds its session for a while: more messages wait than may run
    inst = start(pochta_factory, port, queue_workers="6", remote_destination_concurrency="2")
    qids = send(inst, "lim@example.test", "user@lim.reuse.test", 8, "limited")
    logs = [wait_removed(inst, q) for q in qids]
    assert len(peer.messages) == 8
    assert peer.max_open == 2, f"the peer saw {peer.max_open} connections open at once, the limit is 2"
    assert all("delivered" in log and "deferred" not in log for log in logs)
    assert "yes" in attempts(logs)


def test_cached_connection_closed_by_peer_falls_back_to_a_new_one(pochta_factory, fresh):
    port, _, drop, _ = fresh
    inst = start(pochta_factory, port)
    logs = []
    for i in range(3):   # one after another, each within the reuse time of the one before
        qid = send(inst, "gone%d@example.test" % i, "user@gone.reuse.test", 1, "gone %d" % i)[0]
        logs.append(wait_removed(inst, qid))
    assert sorted(s for s, _ in drop.messages) == ["gone 0 0", "gone 1 0", "gone 2 0"]
    assert drop.connections == 3
    assert attempts(logs) == ["no", "no", "no"]
    assert all("delivered" in log and "deferred" not in log for log in logs)


def test_cached_connection_refusing_rset_falls_back_to_a_new_one(pochta_factory, fresh):
    port, _, _, rset = fresh
    inst = start(pochta_factory, port)
    logs = []
    for i in range(2):
        qid = send(inst, "norset%d@example.test" % i, "user@norset.reuse.test", 1, "norset %d" % i)[0]
        logs.append(wait_removed(inst, qid))
    assert sorted(s for s, _ in rset.messages) == ["norset 0 0", "norset 1 0"]
    assert rset.rsets == 1 and rset.connections == 2
    assert attempts(logs) == ["no", "no"]
    assert all("delivered" in log and "deferred" not in log for log in logs)


def test_reuse_off_gives_one_connection_per_message(pochta_factory, fresh):
    port, peer, _, _ = fresh
    inst = start(pochta_factory, port, remote_connection_reuse_time="0")
    qids = send(inst, "off@example.test", "user@off.reuse.test", 3, "off")
    logs = [wait_removed(inst, q) for q in qids]
    assert len(peer.messages) == 3
    assert peer.connections == 3 and peer.rsets == 0
    assert attempts(logs) == ["no", "no", "no"]


def test_cached_connections_are_closed_after_the_reuse_time(pochta_factory, fresh):
    port, peer, _, _ = fresh
    inst = start(pochta_factory, port, remote_connection_reuse_time="1s")
    wait_removed(inst, send(inst, "idle@example.test", "user@one.reuse.test", 1, "idle")[0])
    assert peer.connections == 1
    deadline = time.time() + 5
    while peer.open and time.time() < deadline:
        time.sleep(0.1)
    assert peer.open == 0, "the idle connection was kept past remote_connection_reuse_time"
