"""The RFC 7208 SPF conformance suite (openspf.org, release 2014.04 + 2019.08
additions), run against `pochta spf check` through pochta's DNS interface.

The suite is read in place from $POCHTA_SHARED/conformance/spf/rfc7208-tests.yml
(default /work/shared). Each scenario's zonedata becomes a --zone file (format
in src/auth/spf_zone.h) and all its tests run in one `pochta spf check --batch`
process; every test is its own pytest item, none is skipped.

Suite conventions followed (those of the suite's reference driver):
- a name's SPF-type records are also served as TXT unless the name lists any
  TXT entry ("TXT: NONE" lists one and serves nothing);
- TIMEOUT: types with a record listed before it answer; everything else at
  that name times out. Records listed after it are never served (the
  generated TXT copies count as listed last);
- TXT/SPF data is a string or a list of strings (concatenated), UTF-8 encoded;
- "result" may be a list of acceptable results; "explanation: DEFAULT" means
  no exp= explanation was used.
"""
import os
import subprocess
import tempfile

import pytest
import yaml

SHARED = os.environ.get("POCHTA_SHARED", "/work/shared")
BUILD = os.environ.get("POCHTA_BUILD", "/work/main/build")
SUITE = os.path.join(SHARED, "conformance", "spf", "rfc7208-tests.yml")
POCHTA = os.path.join(BUILD, "pochta")


def zone_field(value):
    """A zone-file field: quoted, with " \\ and non-printable bytes as \\DDD."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    out = []
    for b in value:
        if b < 0x20 or b >= 0x7F or b in (0x22, 0x5C):
            out.append("\\%03d" % b)
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


def served_entries(entries):
    """The entries of one name as the reference driver serves them, in order."""
    served, generated, gen = [], [], True
    for entry in entries:
        if entry == "TIMEOUT":
            served.append(("TIMEOUT", None))
            continue
        ((rtype, value),) = entry.items()
        if rtype == "TXT":
            gen = False
        elif rtype == "SPF" and gen:
            generated.append(("TXT", value))
        if value != "NONE":
            served.append((rtype, value))
    if gen:
        served.extend(generated)
    return served


def zone_lines(zonedata):
    lines = []
    for name, entries in (zonedata or {}).items():
        qname = zone_field(name)
        for rtype, value in served_entries(entries):
            if rtype == "TIMEOUT":
                lines.append(f"{qname} TIMEOUT")
                break  # nothing after a TIMEOUT is ever served
            if rtype in ("TXT", "SPF"):
                strings = value if isinstance(value, list) else [value]
                lines.append(f"{qname} {rtype} " + " ".join(zone_field(s) for s in strings))
            elif rtype == "MX":
                pref, target = value
                lines.append(f"{qname} MX {int(pref)} {zone_field(target or '.')}")
            else:
                lines.append(f"{qname} {rtype} {zone_field(str(value))}")
    return lines


def load_suite():
    with open(SUITE, "rb") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


SCENARIOS = load_suite()
CASES = [(i, name) for i, sc in enumerate(SCENARIOS) for name in sc["tests"]]
_results = {}


def parse_batch(out):
    results, cur = {}, None
    for line in out.splitlines():
        if line.startswith("test: "):
            cur = results.setdefault(line[6:], {})
        elif cur is not None and ": " in line:
            key, value = line.split(": ", 1)
            cur.setdefault(key, value)
    return results


def run_scenario(index):
    if index in _results:
        return _results[index]
    sc = SCENARIOS[index]
    with tempfile.TemporaryDirectory() as tmp:
        zone = os.path.join(tmp, "zone")
        batch = os.path.join(tmp, "batch")
        with open(zone, "w") as f:
            f.write("\n".join(zone_lines(sc.get("zonedata"))) + "\n")
        with open(batch, "w") as f:
            for name, t in sc["tests"].items():
                fields = [name, str(t["host"]), t.get("mailfrom") or "", t.get("helo") or ""]
                assert not any(c in "".join(fields) for c in "\t\n"), name
                f.write("\t".join(fields) + "\n")
        proc = subprocess.run([POCHTA, "spf", "check", "--zone", zone, "--batch", batch],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    _results[index] = parse_batch(proc.stdout)
    return _results[index]


def test_suite_is_whole():
    """Every test of the suite is collected: none is skipped or filtered out (203 in 2019.08)."""
    total = sum(len(sc["tests"]) for sc in SCENARIOS)
    assert len(CASES) == total and total > 100


@pytest.mark.parametrize("index,name", CASES,
                         ids=[f"{SCENARIOS[i]['description']}/{n}" for i, n in CASES])
def test_spf(index, name):
    t = SCENARIOS[index]["tests"][name]
    got = run_scenario(index).get(name)
    assert got is not None, "no output for this test"
    want = t["result"] if isinstance(t["result"], list) else [t["result"]]
    assert got.get("result") in want, (got, t)
    if "explanation" in t and got.get("result") == "fail":
        if t["explanation"] == "DEFAULT":
            assert got.get("explanation-source") == "default", got
        else:
            assert got.get("explanation-source") == "exp", got
            assert got.get("explanation") == t["explanation"], got
