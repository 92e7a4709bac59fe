"""Envelope policy end to end: the real pochtad, the real NSD serving tests/zones
(policy.test zoo, PTRs of 127.0.0.20-39), clients on their own loopback addresses.

Each test names the check it exercises and asserts the reply class, the enhanced
code and that the text names the check and the value seen. Instances run with
`policy_mode = enforce` and init's default check lists unless a test says otherwise.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from pochta_instance import POCHTAD  # noqa: E402
from smtpwire import Wire  # noqa: E402

GOOD = "127.0.0.20"        # mail.policy.test, forward-confirmed
NO_PTR = "127.0.0.21"
NOMATCH = "127.0.0.22"     # PTR nomatch.policy.test -> 127.0.0.99
DYNAMIC = "127.0.0.23"     # 127-0-0-23.pool.policy.test
LISTED = "127.0.0.24"      # on bl.policy.test
ALLOWED = "127.0.0.25"     # on bl and on allow.policy.test
FWD_FAIL = "127.0.0.26"    # PTR in broken.test: forward lookup SERVFAIL
GREY = "127.0.0.27"
OTHERCODE = "127.0.0.28"   # on bl.policy.test with code 127.0.0.9
NO_PTR2 = "127.0.0.29"
BUSY = "127.0.0.30"
PTR_FAIL = "127.0.0.31"    # PTR lookup itself SERVFAILs

NO_GREY = "rcpt_fqdn rcpt_rate"   # RCPT stage without greylisting, for tests of other stages


def policy_instance(factory, **settings):
    base = {"policy_mode": "enforce", "policy_rcpt": NO_GREY}
    base.update(settings)
    return factory(**base)


def envelope(inst, source, helo="mail.policy.test", sender="carol@policy.test", rcpt="alice@example.test"):
    """EHLO, MAIL, RCPT from source; returns (wire, ehlo, mail, rcpt replies); rcpt None if MAIL failed."""
    w = Wire(inst.port, source=source)
    banner = w.reply()
    assert banner.code == 220, banner
    e = w.cmd(f"EHLO {helo}")
    m = w.cmd(f"MAIL FROM:<{sender}>")
    r = w.cmd(f"RCPT TO:<{rcpt}>") if m.code == 250 else None
    return w, e, m, r


def send_all(w):
    d = w.cmd("DATA")
    assert d.code == 354, d
    return w.cmd("Subject: policy\r\n\r\nhello\r\n.")


def test_good_client_is_accepted_and_delivered(pochta_factory):
    inst = policy_instance(pochta_factory)
    w, e, m, r = envelope(inst, GOOD)
    assert (e.code, m.code, r.code) == (250, 250, 250), (e, m, r)
    assert send_all(w).code == 250
    inst.wait_messages("alice@example.test", 1)


def test_client_without_ptr_is_refused_at_mail(pochta_factory):
    inst = policy_instance(pochta_factory)
    w, e, m, r = envelope(inst, NO_PTR)
    assert e.code == 250
    assert (m.code, m.enhanced) == (550, "5.7.25"), m
    assert "client_ptr" in m.text and NO_PTR in m.text and "PTR" in m.text
    log = inst.read_log()
    assert "event=policy stage=connect check=client_ptr verdict=reject" in log


def test_ptr_not_resolving_back_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, NOMATCH)
    assert (m.code, m.enhanced) == (550, "5.7.25"), m
    assert "client_fcrdns" in m.text and "nomatch.policy.test" in m.text


def test_dynamic_looking_name_refused_when_enabled(pochta_factory):
    inst = policy_instance(pochta_factory, policy_connect="client_ptr client_fcrdns client_dynamic")
    _, _, m, _ = envelope(inst, DYNAMIC)
    assert (m.code, m.enhanced) == (550, "5.7.25"), m
    assert "dynamic" in m.text and "127-0-0-23.pool.policy.test" in m.text and "client_dynamic" in m.text


def test_dynamic_looking_name_only_logged_by_default(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, r = envelope(inst, DYNAMIC)
    assert (m.code, r.code) == (250, 250), (m, r)
    assert "check=client_dynamic verdict=reject action=warn" in inst.read_log()


def test_ptr_lookup_servfail_defers(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, PTR_FAIL)
    assert m.code == 450 and m.enhanced.startswith("4."), m
    assert "client_ptr" in m.text and "temporarily" in m.text


def test_forward_lookup_servfail_defers(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, FWD_FAIL)
    assert m.code == 450 and m.enhanced == "4.7.25", m
    assert "client_fcrdns" in m.text


def test_helo_without_address_or_mx_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, e, m, _ = envelope(inst, GOOD, helo="noaddr.policy.test")
    assert e.code == 250
    assert (m.code, m.enhanced) == (550, "5.7.1"), m
    assert "helo_resolves" in m.text and "noaddr.policy.test" in m.text


def test_helo_not_fully_qualified_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, helo="mailserver")
    assert (m.code, m.enhanced) == (504, "5.5.2"), m
    assert "helo_fqdn" in m.text and "mailserver" in m.text


def test_helo_bare_ip_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, helo="127.0.0.20")
    assert (m.code, m.enhanced) == (501, "5.5.2"), m
    assert "helo_syntax" in m.text and "[127.0.0.20]" in m.text


def test_helo_claiming_our_name_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, helo="mx.example.test")
    assert (m.code, m.enhanced) == (550, "5.7.1"), m
    assert "helo_not_self" in m.text
    _, _, m2, _ = envelope(inst, GOOD, helo="[127.0.0.1]")
    assert (m2.code, m2.enhanced) == (550, "5.7.1") and "helo_not_self" in m2.text, m2


def test_helo_dns_failure_defers(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, helo="mx.broken.test")
    assert (m.code, m.enhanced) == (450, "4.4.3"), m
    assert "helo_resolves" in m.text


def test_sender_domain_nxdomain_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, sender="x@nope.policy.test")
    assert (m.code, m.enhanced) == (550, "5.1.8"), m
    assert "sender_domain" in m.text and "nope.policy.test" in m.text and "NXDOMAIN" in m.text


def test_sender_domain_without_records_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, sender="x@noaddr.policy.test")
    assert (m.code, m.enhanced) == (550, "5.1.8"), m
    assert "no MX, A or AAAA" in m.text


def test_sender_domain_with_null_mx_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, sender="x@nullmx.sender.test")
    assert (m.code, m.enhanced) == (550, "5.7.27"), m
    assert "null MX" in m.text and "nullmx.sender.test" in m.text


def test_sender_domain_with_only_an_address_is_accepted(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, r = envelope(inst, GOOD, sender="x@nomx.sender.test")
    assert (m.code, r.code) == (250, 250), (m, r)


def test_sender_domain_servfail_defers_never_rejects(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, sender="x@broken.test")
    assert (m.code, m.enhanced) == (451, "4.4.3"), m
    assert "sender_domain" in m.text and "temporarily" in m.text


def test_sender_not_fully_qualified_is_refused(pochta_factory):
    inst = policy_instance(pochta_factory)
    _, _, m, _ = envelope(inst, GOOD, sender="x@localhost")
    assert (m.code, m.enhanced) == (504, "5.5.2"), m
    assert "sender_fqdn" in m.text


def test_own_domain_forgery_refused_unless_spf_passes(pochta_factory):
    inst = policy_instance(pochta_factory)
    # 127.0.0.20 is not in example.test's SPF (v=spf1 mx -all): forgery
    _, _, m, _ = envelope(inst, GOOD, sender="ceo@example.test")
    assert (m.code, m.enhanced) == (550, "5.7.1"), m
    assert "own_domain_forgery" in m.text and "spf=fail" in m.text
    # from 127.0.0.1 (mx.example.test, the domain's MX) SPF passes
    _, _, m2, r2 = envelope(inst, "127.0.0.1", sender="ceo@example.test")
    assert m2.code == 250 and r2.code == 250, (m2, r2)


def test_warn_only_mode_refuses_nothing_and_logs(pochta_factory):
    inst = policy_instance(pochta_factory, policy_mode="warn")
    w, _, m, r = envelope(inst, NO_PTR2, sender="x@nope.policy.test")
    assert (m.code, r.code) == (250, 250), (m, r)
    assert send_all(w).code == 250
    log = inst.read_log()
    assert "check=client_ptr verdict=reject action=warn_mode" in log
    assert "check=sender_domain verdict=reject action=warn_mode" in log


def test_defer_action_makes_a_refusal_temporary(pochta_factory):
    inst = policy_instance(pochta_factory, policy_connect="client_ptr:defer")
    _, _, m, _ = envelope(inst, NO_PTR)
    assert (m.code, m.enhanced) == (450, "4.7.25"), m


def test_whitelist_and_per_check_exemption(pochta_factory):
    inst = policy_instance(pochta_factory, policy_whitelist=f"{NO_PTR}/32 .nope.policy.test",
                           policy_exempt=f"client_fcrdns:{NOMATCH}")
    _, _, m, r = envelope(inst, NO_PTR)
    assert (m.code, r.code) == (250, 250), (m, r)
    # the exemption switches off client_fcrdns only
    _, _, m2, r2 = envelope(inst, NOMATCH)
    assert (m2.code, r2.code) == (250, 250), (m2, r2)
    _, _, m3, _ = envelope(inst, NOMATCH, sender="x@noaddr.policy.test")
    assert m3.code == 550 and "sender_domain" in m3.text


def test_greylisting_full_cycle(pochta_factory):
    inst = policy_instance(pochta_factory, policy_rcpt="rcpt_fqdn greylist", greylist_delay="2s",
                           greylist_auto_whitelist="1")
    w, _, m, r = envelope(inst, GREY)
    assert m.code == 250
    assert (r.code, r.enhanced) == (451, "4.7.1"), r
    assert "Greylisted" in r.text and "retry in" in r.text
    started = time.time()
    # an early retry is still greylisted
    _, _, _, r2 = envelope(inst, GREY)
    assert (r2.code, r2.enhanced) == (451, "4.7.1"), r2
    # a retry after the delay passes
    deadline = started + 20
    while time.time() < deadline:
        time.sleep(0.25)
        if time.time() - started < 2.2:
            continue
        w3, _, _, r3 = envelope(inst, GREY)
        if r3.code == 250:
            break
    assert r3.code == 250, r3
    assert send_all(w3).code == 250
    inst.wait_messages("alice@example.test", 1)
    # auto-whitelist: the client network passed once, a new sender/recipient is not delayed
    _, _, _, r4 = envelope(inst, GREY, sender="dave@policy.test", rcpt="bob@example.test")
    assert r4.code == 250, r4


def test_greylist_state_survives_restart(pochta_factory):
    inst = policy_instance(pochta_factory, policy_rcpt="greylist", greylist_delay="1s",
                           greylist_auto_whitelist="0")
    _, _, _, r = envelope(inst, GREY)
    assert r.code == 451
    inst.stop()
    time.sleep(1.1)
    inst.start()
    _, _, _, r2 = envelope(inst, GREY)
    assert r2.code == 250, r2


def test_dnsbl_listed_is_refused_with_list_and_url(pochta_factory):
    inst = policy_instance(pochta_factory, dnsbl_zones="bl.policy.test=127.0.0.2")
    _, _, m, _ = envelope(inst, LISTED)
    assert (m.code, m.enhanced) == (554, "5.7.1"), m
    assert "bl.policy.test" in m.text and "https://bl.policy.test/lookup?ip=127.0.0.24" in m.text
    assert "dnsbl" in m.text


def test_dnsbl_unlisted_and_filtered_codes_are_accepted(pochta_factory):
    inst = policy_instance(pochta_factory, dnsbl_zones="bl.policy.test=127.0.0.2")
    _, _, m, r = envelope(inst, GOOD)
    assert (m.code, r.code) == (250, 250)
    _, _, m2, r2 = envelope(inst, OTHERCODE)  # listed with 127.0.0.9, not a code we count
    assert (m2.code, r2.code) == (250, 250), (m2, r2)


def test_dnsbl_weights_threshold_and_allowlist(pochta_factory):
    inst = policy_instance(pochta_factory, dnsbl_zones="bl.policy.test*1", dnsbl_threshold="2",
                           dnsbl_allowlists="allow.policy.test")
    _, _, m, _ = envelope(inst, LISTED)  # weight 1 < threshold 2
    assert m.code == 250, m
    inst2 = policy_instance(pochta_factory, dnsbl_zones="bl.policy.test*2", dnsbl_threshold="2",
                            dnsbl_allowlists="allow.policy.test")
    _, _, m2, _ = envelope(inst2, LISTED)
    assert m2.code == 554, m2
    _, _, m3, _ = envelope(inst2, ALLOWED)  # also on the allowlist
    assert m3.code == 250, m3


def test_rate_limits(pochta_factory):
    inst = policy_instance(pochta_factory, rate_connections="3", rate_messages="2", rate_recipients="2")
    w = Wire(inst.port, source=BUSY)
    assert w.reply().code == 220
    w.cmd("EHLO busy.policy.test")
    assert w.cmd("MAIL FROM:<a@policy.test>").code == 250
    assert w.cmd("RCPT TO:<alice@example.test>").code == 250
    assert w.cmd("RCPT TO:<bob@example.test>").code == 250
    r = w.cmd("RCPT TO:<team@example.test>")
    assert (r.code, r.enhanced) == (452, "4.7.1") and "rcpt_rate" in r.text, r
    assert w.cmd("RSET").code == 250
    assert w.cmd("MAIL FROM:<a@policy.test>").code == 250
    assert w.cmd("RSET").code == 250
    m = w.cmd("MAIL FROM:<a@policy.test>")
    assert (m.code, m.enhanced) == (450, "4.7.1") and "msg_rate" in m.text, m
    for _ in range(2):
        extra = Wire(inst.port, source=BUSY)
        assert extra.reply().code == 220
        extra.close()
    last = Wire(inst.port, source=BUSY)
    b = last.reply()
    assert (b.code, b.enhanced) == (421, "4.7.0") and "conn_rate" in b.text, b
    assert last.closed()


def test_bounce_to_several_recipients_refused_at_data(pochta_factory):
    inst = policy_instance(pochta_factory)
    w = Wire(inst.port, source=GOOD)
    w.reply()
    w.cmd("EHLO mail.policy.test")
    assert w.cmd("MAIL FROM:<>").code == 250
    assert w.cmd("RCPT TO:<alice@example.test>").code == 250
    assert w.cmd("RCPT TO:<bob@example.test>").code == 250
    d = w.cmd("DATA")
    assert (d.code, d.enhanced) == (550, "5.5.3") and "bounce_multi_rcpt" in d.text, d


def test_defaults_printed_and_bad_lists_refused(pochta_factory):
    inst = pochta_factory(start=False)
    with open(inst.conf) as f:
        text = f.read()
    assert "# policy_connect = conn_rate client_ptr client_fcrdns client_dynamic:warn dnsbl" in text
    assert "# policy_rcpt = rcpt_fqdn rcpt_rate greylist" in text
    inst.set("policy_mode", "enforce")
    r = subprocess.run([POCHTAD, "-c", inst.conf, "-n"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "policy_helo = helo_syntax helo_fqdn helo_not_self helo_resolves\n" in r.stdout
    assert "greylist_delay = 300\n" in r.stdout and "dnsbl_zones = none\n" in r.stdout
    inst.set("policy_mail", "sender_fqdn sender_domian")
    r = subprocess.run([POCHTAD, "-c", inst.conf, "-n"], capture_output=True, text=True)
    assert r.returncode == 2 and "policy_mail: unknown check 'sender_domian'" in r.stderr, r.stderr
    inst.set("policy_mail", "sender_fqdn")
    inst.set("dnsbl_zones", "zen.spamhaus.org=127.0.0.2-127.0.0.11*2 bad..zone")
    r = subprocess.run([POCHTAD, "-c", inst.conf, "-n"], capture_output=True, text=True)
    assert r.returncode == 2 and "dnsbl_zones: bad entry 'bad..zone'" in r.stderr, r.stderr


def test_sender_verify_callout(pochta_factory, dns_server, tmp_path):
    """sender_verify probes the sender's MX (a second real pochtad for verify.policy.test on
    127.0.0.32) with a null-sender session up to RCPT, caches both answers, defers when the MX is
    unreachable and when the per-domain probe rate is used up."""
    from pochta_instance import PochtaInstance
    peer = PochtaInstance(tmp_path / "peer", dns=dns_server, hostname="mx.verify.policy.test",
                          domain="verify.policy.test")
    peer.set("smtp_listen", f"127.0.0.32:{peer.port}")
    peer.listen_host = "127.0.0.32"
    peer.add_user("real@verify.policy.test")
    peer.start()
    try:
        inst = policy_instance(pochta_factory, policy_mail="sender_fqdn sender_domain sender_verify",
                               callout_port=str(peer.port), callout_rate="3")
        _, _, m, r = envelope(inst, GOOD, sender="real@verify.policy.test")
        assert (m.code, r.code) == (250, 250), (m, r)
        _, _, m2, _ = envelope(inst, GOOD, sender="ghost@verify.policy.test")
        assert (m2.code, m2.enhanced) == (550, "5.1.7"), m2
        assert "sender_verify" in m2.text and "550 5.1.1" in m2.text and "ghost@verify.policy.test" in m2.text
        peer_log = peer.read_log()
        assert "from=<>" in peer_log  # the probe used the null sender
        peer.stop()
        # both answers are remembered: no new probe is needed while the peer is down
        _, _, m3, r3 = envelope(inst, GOOD, sender="real@verify.policy.test")
        assert (m3.code, r3.code) == (250, 250), m3
        _, _, m4, _ = envelope(inst, GOOD, sender="ghost@verify.policy.test")
        assert m4.code == 550 and "remembered" in m4.text, m4
        # a new address while the MX is unreachable: 4xx, never 5xx
        _, _, m5, _ = envelope(inst, GOOD, sender="new@verify.policy.test")
        assert (m5.code, m5.enhanced) == (450, "4.1.7"), m5
        # the third probe of the domain this minute was the last allowed one
        _, _, m6, _ = envelope(inst, GOOD, sender="other@verify.policy.test")
        assert (m6.code, m6.enhanced) == (450, "4.1.7") and "a minute" in m6.text, m6
        assert peer_log.count("event=connect") >= 2
    finally:
        peer.stop()


def test_sender_verify_mx_down_defers(pochta_factory):
    inst = policy_instance(pochta_factory, policy_mail="sender_verify", callout_timeout="5")
    _, _, m, _ = envelope(inst, GOOD, sender="someone@down.policy.test")
    assert (m.code, m.enhanced) == (450, "4.1.7"), m
    assert "connection failed" in m.text or "timeout" in m.text


def test_trusted_network_skips_every_check(pochta_factory):
    inst = policy_instance(pochta_factory, trusted_networks=f"{NO_PTR}/32", policy_rcpt="rcpt_fqdn greylist")
    _, _, m, r = envelope(inst, NO_PTR, helo="mailserver", sender="x@nope.policy.test")
    assert (m.code, r.code) == (250, 250), (m, r)   # no PTR, bad HELO, no domain, not greylisted


def test_pipelined_commands_wait_for_dns_in_order(pochta_factory):
    """EHLO, MAIL, RCPT, DATA sent in one write: the HELO and MAIL stages wait for DNS,
    and the replies still come back in order, one per command (RFC 2920)."""
    inst = policy_instance(pochta_factory)
    w = Wire(inst.port, source=GOOD)
    assert w.reply().code == 220
    w.send("EHLO grey.policy.test\r\nMAIL FROM:<carol@policy.test>\r\nRCPT TO:<bob@example.test>\r\n"
           "RSET\r\nMAIL FROM:<x@nope.policy.test>\r\nMAIL FROM:<y@policy.test>\r\nNOOP\r\n")
    codes = [w.reply().code for _ in range(7)]
    assert codes == [250, 250, 250, 250, 550, 250, 250], codes


def test_bounce_to_several_recipients_refused_at_rcpt_when_listed_there(pochta_factory):
    inst = policy_instance(pochta_factory, policy_rcpt="bounce_multi_rcpt")
    w = Wire(inst.port, source=GOOD)
    w.reply()
    w.cmd("EHLO mail.policy.test")
    assert w.cmd("MAIL FROM:<>").code == 250
    assert w.cmd("RCPT TO:<alice@example.test>").code == 250
    r = w.cmd("RCPT TO:<bob@example.test>")
    assert (r.code, r.enhanced) == (550, "5.5.3") and "bounce_multi_rcpt" in r.text, r
    w.send("BDAT 7 LAST\r\nhello\r\n")
    assert w.reply().code == 250   # one recipient: the bounce itself goes through


def test_dns_timeouts_defer_never_reject(pochta_factory):
    """A resolver that never answers: every lookup runs into dns_timeout_ms. The client
    name, HELO and sender domain cannot be checked, so MAIL gets a 4xx, never a 5xx."""
    import socket
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        inst = policy_instance(pochta_factory, dns_server=f"127.0.0.1:{silent.getsockname()[1]}",
                               dns_timeout_ms="300")
        _, _, m, _ = envelope(inst, GOOD, sender="carol@policy.test")
        assert m.code in (450, 451) and m.enhanced.startswith("4."), m
        assert "temporarily" in m.text
    finally:
        silent.close()
