"""Runs the protocol transcripts in tests/transcripts/ (format in its
README.md) against a fresh real pochtad each."""
import ast
import glob
import os
import socket

import pytest

from smtpwire import Wire

TRANSCRIPTS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "transcripts", "*.txt")))


def load(path):
    settings, steps = {}, []
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            if word == "set":
                key, _, value = rest.partition(" ")
                settings[key] = value
            else:
                steps.append((n, word, rest))
    return settings, steps


def check_reply(name, n, reply, spec):
    parts = spec.split(" ", 2)
    assert reply.code == int(parts[0]), f"{name}:{n}: got {reply}, want {spec}"
    rest = parts[1:]
    if rest and rest[0] != "-" and rest[0][:1].isdigit():
        assert reply.enhanced == rest[0], f"{name}:{n}: got {reply}, want {spec}"
        rest = rest[1:]
    elif rest and rest[0] == "-":
        rest = rest[1:]
    if rest:
        assert rest[0] in reply.text, f"{name}:{n}: {rest[0]!r} not in {reply}"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=os.path.basename)
def test_transcript(pochta_factory, path):
    name = os.path.basename(path)
    settings, steps = load(path)
    pochta = pochta_factory(**settings)
    w = None
    for n, word, rest in steps:
        if word == "connect":
            if w:
                w.close()
            w = Wire(pochta.port, source=rest or None)
        elif word == ">":
            w.send(rest + "\r\n")
        elif word == ">raw":
            w.send(ast.literal_eval(rest).encode("latin-1"))
        elif word == "<":
            check_reply(name, n, w.reply(), rest)
        elif word == "silent":
            w.sock.settimeout(1.0)
            try:
                data = w.sock.recv(4096)
            except socket.timeout:
                data = None
            assert not data, f"{name}:{n}: server answered {data!r}"
        elif word == "closed":
            assert w.closed(), f"{name}:{n}: connection still open"
        else:
            raise AssertionError(f"{name}:{n}: unknown transcript word {word!r}")
    if w:
        w.close()
