"""Scripted SMTP peers for outbound tests: an aiosmtpd server on one
loopback address, with STARTTLS on a fresh self-signed certificate when
asked. The handler (the test's own class, usually a ScriptedRcpt) decides
each reply."""
import ssl
import subprocess

from aiosmtpd.controller import Controller


def tls_context(directory, cn):
    """A server TLS context with a new self-signed certificate for cn, made in directory."""
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={cn}", "-keyout", key, "-out", cert], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def start_peer(handler, ip, port, name, tls_dir=None, controller=Controller, **options):
    """A started peer at ip:port greeting as name; STARTTLS offered when tls_dir is given."""
    if tls_dir is not None:
        options.update(tls_context=tls_context(tls_dir, name), require_starttls=False)
    ctl = controller(handler, hostname=ip, port=port, server_hostname=name, **options)
    ctl.start()
    return ctl


class ScriptedRcpt:
    """An aiosmtpd handler base whose RCPT answer is chosen by the recipient's
    local part: RCPT_SCRIPT lists (prefix, reply, once); the first prefix that
    matches gives its reply ("%s" is the address), and with once only at the
    first try of each address (then it is accepted). Anything else: 250."""
    RCPT_SCRIPT = ()

    def __init__(self):
        self.tried = set()   # addresses that got their once-only answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        for prefix, reply, once in self.RCPT_SCRIPT:
            if local.startswith(prefix) and not (once and address in self.tried):
                if once:
                    self.tried.add(address)
                return reply.replace("%s", address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"
