"""Shared fixtures: one real DNS server (NSD) for the whole run, and a fresh
real pochtad per test, configured through the real CLI."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from dnsserver import dns_server  # noqa: E402,F401  (session-scoped NSD on loopback)
from pochta_instance import PochtaInstance  # noqa: E402


@pytest.fixture
def pochta_factory(tmp_path, dns_server):
    """make(**settings) -> a started pochtad with users alice and bob, and
    aliases postmaster -> alice, team -> alice + bob."""
    made = []

    def make(start=True, **settings):
        inst = PochtaInstance(tmp_path / f"p{len(made)}", dns=dns_server)
        made.append(inst)
        for key, value in settings.items():
            inst.set(key, value)
        inst.add_user("alice@example.test")
        inst.add_user("bob@example.test")
        inst.cli("alias", "add", "postmaster@example.test", "alice@example.test")
        inst.cli("alias", "add", "team@example.test", "alice@example.test", "bob@example.test")
        return inst.start() if start else inst

    yield make
    for inst in made:
        inst.stop()


@pytest.fixture
def pochta(pochta_factory):
    return pochta_factory()
