"""Helpers for the POP3 tests: a pochtad with POP3 listeners, mail sent to it
over real SMTP, and poplib clients (optionally bound to a loopback source
address, as smtpwire.Wire is)."""
import poplib
import smtplib
import socket
import ssl

from pochta_instance import free_port, wait_port

PASSWORD = "secret-pass"  # what conftest's pochta_factory gives alice and bob

MSG = ("From: Carol <carol@good.sender.test>\r\nTo: {to}\r\nSubject: {subject}\r\n"
       "Message-ID: <{subject}@good.sender.test>\r\n\r\n{body}")


def tls_context():
    """The test instance's certificate is self-signed: encrypt, do not verify."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def pop3_instance(pochta_factory, **settings):
    """A started pochtad with pop3_listen and pop3s_listen on free ports."""
    pop3, pop3s = free_port(), free_port()
    inst = pochta_factory(pop3_listen=f"127.0.0.1:{pop3}", pop3s_listen=f"127.0.0.1:{pop3s}", **settings)
    inst.pop3_port, inst.pop3s_port = pop3, pop3s
    wait_port("127.0.0.1", pop3)  # start() waited for the SMTP port only
    wait_port("127.0.0.1", pop3s)
    return inst


def deliver(inst, to, subject, body="Hello.\r\n"):
    """Send one message over SMTP and wait until it is in the Maildir."""
    before = len(inst.messages(to))
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.sendmail("carol@good.sender.test", [to], MSG.format(to=to, subject=subject, body=body))
    inst.wait_messages(to, before + 1)


class POP3From(poplib.POP3):
    """poplib.POP3 whose connection comes from a chosen loopback address."""

    def __init__(self, host, port, source=None, timeout=20):
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        src = (self._source, 0) if self._source else None
        return socket.create_connection((self.host, self.port), timeout, source_address=src)


def login(inst, user="alice@example.test", password=PASSWORD, source=None):
    """A POP3 session on the 110-style port, upgraded with STLS, logged in."""
    p = POP3From("127.0.0.1", inst.pop3_port, source=source)
    p.stls(context=tls_context())
    p.user(user)
    p.pass_(password)
    return p
