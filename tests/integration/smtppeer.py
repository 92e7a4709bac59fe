"""Scripted SMTP peers for outbound tests: an aiosmtpd server on one
loopback address, with STARTTLS on a fresh self-signed certificate when
asked. The handler (the test's own class) decides each reply."""
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
