"""A raw SMTP client for tests that must send exactly the bytes they name
(pipelining, bare LF, BDAT, early talkers, overlong lines), which smtplib
would refuse or normalise."""
import re
import socket
import ssl

REPLY_LINE = re.compile(rb"^(\d{3})([ -])(.*)$")


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        m = re.match(r"^([245]\.\d{1,3}\.\d{1,3}) ", self.lines[-1] + " ")
        return m.group(1) if m else None

    def __repr__(self):
        return f"Reply({self.code}, {self.lines!r})"


def _client_tls():
    """A TLS client context that accepts the test instances' self-signed certificates."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Wire:
    def __init__(self, port, host="127.0.0.1", source=None, timeout=20, tls=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        if tls:  # implicit TLS (port 465 style) from the first byte
            self.sock = _client_tls().wrap_socket(self.sock)
        self.buf = b""

    def starttls(self):
        """Send STARTTLS, expect 220, and continue over TLS. Returns the reply."""
        r = self.cmd("STARTTLS")
        if r.code == 220:
            self.sock = _client_tls().wrap_socket(self.sock)
            self.buf = b""
        return r

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed; pending: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self):
        lines = []
        while True:
            m = REPLY_LINE.match(self._line())
            assert m, "malformed reply line"
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) == b" ":
                return Reply(int(m.group(1)), lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True when the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()
