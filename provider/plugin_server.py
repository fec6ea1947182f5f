"""The provider's plugin server: the go-plugin handshake with Terraform, over mutual TLS.

`tf.runner.run_provider` caches a 1024-bit RSA key under the user's home for a week and accepts any TLS
client. This runner keeps the framework's servicers and replaces only the process plumbing:

- every process makes a fresh EC P-256 key and self-signed certificate, held in memory only (OpenSSL
  reads the key through a named pipe in a private directory; it never lands in a file);
- the TLS endpoint Terraform dials (127.0.0.1, a port in PLUGIN_MIN_PORT..PLUGIN_MAX_PORT) requires a
  client certificate and accepts exactly the one Terraform generated for this process and passed in
  `PLUGIN_CLIENT_CERT` (go-plugin AutoMTLS), so no other local process can drive the provider with the
  user's Vault credentials;
- the handshake line tells Terraform where to connect and which server certificate to trust.

Why TLS is not terminated by grpcio itself: Terraform's client certificate is ECDSA P-521, and the
BoringSSL inside grpcio does not offer ecdsa_secp521r1_sha512 in its CertificateRequest, so under TLS 1.3
Terraform finds no acceptable certificate and sends none (the handshake fails with
PEER_DID_NOT_RETURN_A_CERTIFICATE); grpcio's Python API cannot change signature algorithms or cap the
TLS version. So Python's `ssl` (OpenSSL, which accepts P-521) terminates TLS in a relay thread per
connection (`TlsFront`), and the gRPC server listens on a unix socket inside a 0700 directory only this user can enter.

Heavy imports (grpc, protobuf, cryptography) happen inside `serve` so the console script stays quick to
start; the whole path from exec to handshake is what Terraform waits for on every run.
"""

from __future__ import annotations

import base64
import gc
import os
import selectors
import signal
import socket
import ssl
import sys
import threading
import time
import types
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from tf.iface import Provider

# go-plugin's handshake contract with Terraform (hashicorp/go-plugin, terraform's plugin.Handshake).
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
CORE_PROTOCOL_VERSION = 1
PLUGIN_PROTOCOL_VERSION = 6
CLIENT_CERT_ENV = "PLUGIN_CLIENT_CERT"
PROTOCOL_VERSIONS_ENV = "PLUGIN_PROTOCOL_VERSIONS"

# The server certificate only has to outlive this process; the key never leaves memory.
_CERT_LIFETIME_DAYS = 30
# Terraform waits at most a couple of seconds for a plugin to exit after Shutdown.
_SHUTDOWN_GRACE_SECONDS = 0.5

NOT_A_PLUGIN_MESSAGE = (
    "This binary is a plugin. These are not meant to be executed directly.\n"
    "Please execute the program that consumes these plugins, which will\n"
    "load any plugins automatically\n"
)


def defer_unused_modules() -> None:
    """Leave `asyncio` and `grpc.aio` unloaded until something uses them; call before the first `import grpc`.

    grpc's Cython core imports `asyncio` (for its asyncio API) and `import grpc` imports that API,
    `grpc.aio`, eagerly; the provider serves with grpc's synchronous server and relays TLS with threads
    (`TlsFront`), so it uses neither. Importing them cost about 20 ms of every provider start on the
    project's machine, and Terraform starts three or four per command (DECISIONS.md#d64). A placeholder stands
    in `sys.modules` for each; the first attribute asked of it imports the real module and puts it in the
    placeholder's places, so `import asyncio`, `import grpc.aio` and `from ... import ...` keep working.
    """
    if "grpc" in sys.modules:
        return  # too late: grpc has imported both
    for name in ("asyncio", "grpc.aio"):
        if name not in sys.modules:
            sys.modules[name] = _Deferred(name)


class _Deferred(types.ModuleType):
    """A module not imported yet: the first attribute asked of it imports it."""

    def __getattr__(self, name: str) -> object:
        import importlib

        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        module = importlib.import_module(self.__name__)
        parent, _, child = self.__name__.rpartition(".")
        if getattr(sys.modules.get(parent), child, None) is self:
            setattr(sys.modules[parent], child, module)
        return getattr(module, name)


class HandshakeError(Exception):
    """The process was not started by a Terraform that can talk to this provider securely."""


@dataclass(frozen=True)
class ServerIdentity:
    """A per-process TLS identity: PEM key and certificate for gRPC, DER certificate for the handshake."""

    key_pem: bytes
    cert_pem: bytes
    cert_der: bytes


def generate_server_identity() -> ServerIdentity:
    """Make a fresh EC P-256 key and a self-signed certificate for `localhost`, in memory only.

    The certificate is written in DER here (`_certificate`) rather than with `cryptography.x509`: importing
    that package's X.509 and serialization modules cost more than anything else on the way to the handshake.
    The key and the signature still come from `cryptography`.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_numbers()
    point = b"\x04" + public.x.to_bytes(32, "big") + public.y.to_bytes(32, "big")
    now = int(time.time())
    # Terraform's clock and ours are the same clock, but allow for a coarse-grained one.
    tbs = _certificate(point, not_before=now - 30, not_after=now + _CERT_LIFETIME_DAYS * 86400)
    try:
        signature = key.sign(tbs, _ecdsa_with_sha256())
    except Exception:  # noqa: BLE001 - a cryptography that needs the whole object: build it the usual way
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    cert_der = _seq(tbs, _seq(_ECDSA_WITH_SHA256), _bits(signature))
    # SEC 1 ECPrivateKey (RFC 5915): version 1, the private value, the curve, the public point.
    private = key.private_numbers().private_value.to_bytes(32, "big")
    key_der = _seq(_int(1), _der(0x04, private), _der(0xA0, _P256), _der(0xA1, _bits(point)))
    return ServerIdentity(key_pem=_pem("EC PRIVATE KEY", key_der), cert_pem=_pem("CERTIFICATE", cert_der),
                          cert_der=cert_der)  # fmt: skip


def _ecdsa_with_sha256():  # noqa: ANN202 - cryptography's ECDSA
    """`ec.ECDSA(hashes.SHA256())`, without running `ECDSA.__init__`.

    That constructor imports cryptography's whole OpenSSL backend module (ciphers, paddings, the bindings'
    Python side: about 6 ms of every start on the project's machine) only to check deterministic signing,
    which is not asked for here. `key.sign` reads the two properties this subclass answers instead; should a
    cryptography release need more of the object, the plain constructor is used.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    class EcdsaWithSha256(ec.ECDSA):
        algorithm = hashes.SHA256()  # type: ignore[assignment]
        deterministic_signing = False  # type: ignore[assignment]

        def __init__(self) -> None:  # on purpose, not ECDSA.__init__ (see above)
            pass

    return EcdsaWithSha256()


# -- the certificate in DER (X.690), only what generate_server_identity writes -----------------------------


def _der(tag: int, body: bytes) -> bytes:
    """One DER element: tag, definite length, contents."""
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def _int(value: int) -> bytes:
    """A non-negative INTEGER (a leading zero byte when the top bit is set, as DER requires)."""
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _bits(data: bytes) -> bytes:
    """A BIT STRING of whole bytes."""
    return _der(0x03, b"\x00" + data)


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(arc) for arc in dotted.split("."))
    body = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def _utc(seconds: int) -> bytes:
    return _der(0x17, time.strftime("%y%m%d%H%M%SZ", time.gmtime(seconds)).encode())


def _extension(oid: str, value: bytes, *, critical: bool) -> bytes:
    return _seq(_oid(oid), *([_der(0x01, b"\xff")] if critical else []), _der(0x04, value))


def _pem(label: str, der: bytes) -> bytes:
    text = base64.b64encode(der).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


_P256 = _oid("1.2.840.10045.3.1.7")  # prime256v1
_ECDSA_WITH_SHA256 = _oid("1.2.840.10045.4.3.2")


def _certificate(point: bytes, *, not_before: int, not_after: int) -> bytes:
    """The TBSCertificate (RFC 5280) of a self-signed P-256 certificate for `localhost` and 127.0.0.1."""
    name = _seq(_der(0x31, _seq(_oid("2.5.4.3"), _der(0x0C, b"localhost"))))  # CN=localhost
    serial = int.from_bytes(os.urandom(20), "big") >> 1 | 1  # positive, at most 20 bytes (RFC 5280)
    extensions = [
        # go-plugin puts this certificate in its root pool as well as expecting it as the leaf.
        _extension("2.5.29.19", _seq(_der(0x01, b"\xff")), critical=True),  # basicConstraints: CA
        # keyUsage: digitalSignature, keyAgreement, keyCertSign (bits 0, 4, 5; the last 2 bits unused)
        _extension("2.5.29.15", _der(0x03, b"\x02\x8c"), critical=True),
        _extension("2.5.29.37", _seq(_oid("1.3.6.1.5.5.7.3.1")), critical=False),  # extKeyUsage: serverAuth
        # Terraform dials with ServerName "localhost"; Go checks SANs only, never the CN.
        _extension("2.5.29.17", _seq(_der(0x82, b"localhost"), _der(0x87, bytes([127, 0, 0, 1]))), critical=False),
    ]
    return _seq(
        _der(0xA0, _int(2)),  # version 3
        _int(serial),
        _seq(_ECDSA_WITH_SHA256),
        name,
        _seq(_utc(not_before), _utc(not_after)),
        name,
        _seq(_seq(_oid("1.2.840.10045.2.1"), _P256), _bits(point)),  # id-ecPublicKey on P-256
        _der(0xA3, _seq(*extensions)),
    )


def read_client_certificate(environ: dict[str, str]) -> bytes:
    """Check go-plugin's environment contract and return Terraform's client certificate (PEM).

    Raises HandshakeError when the magic cookie is missing (someone ran the binary by hand), when the
    client speaks no protocol version we serve, or when no client certificate was given: without it the
    server could not tell Terraform from any other local process, so it refuses to start.
    """
    if environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        raise HandshakeError(NOT_A_PLUGIN_MESSAGE)
    offered = environ.get(PROTOCOL_VERSIONS_ENV)
    if offered:
        versions = {v.strip() for v in offered.split(",")}
        if str(PLUGIN_PROTOCOL_VERSION) not in versions:
            raise HandshakeError(
                f"Incompatible plugin protocol: this provider serves protocol {PLUGIN_PROTOCOL_VERSION}, "
                f"Terraform offered {offered}. Terraform 1.0 or later is required."
            )
    cert = environ.get(CLIENT_CERT_ENV, "").strip()
    if not cert:
        raise HandshakeError(
            f"{CLIENT_CERT_ENV} is not set: this provider only accepts mutually authenticated TLS "
            "connections and needs the client certificate Terraform generates for each plugin "
            "(go-plugin AutoMTLS). Run it through Terraform 1.0 or later."
        )
    if "-----BEGIN CERTIFICATE-----" not in cert:
        raise HandshakeError(f"{CLIENT_CERT_ENV} does not hold a PEM certificate.")
    return cert.encode() + b"\n"


def handshake_line(port: int, cert_der: bytes) -> str:
    """The single stdout line go-plugin parses: core|app protocol|network|address|protocol|server cert."""
    # go-plugin decodes the certificate with base64.RawStdEncoding: standard alphabet, no padding.
    cert_b64 = base64.b64encode(cert_der).decode().rstrip("=")
    return f"{CORE_PROTOCOL_VERSION}|{PLUGIN_PROTOCOL_VERSION}|tcp|127.0.0.1:{port}|grpc|{cert_b64}\n"


def _pem_to_der(pem: bytes) -> bytes:
    body = b"".join(
        line.strip() for line in pem.splitlines() if line.strip() and not line.startswith(b"-----")
    )
    return base64.b64decode(body)


def _ports(environ: dict[str, str]) -> list[int]:
    """Ports to try: go-plugin's PLUGIN_MIN_PORT..PLUGIN_MAX_PORT when Terraform sets them, else any."""
    try:
        low, high = int(environ["PLUGIN_MIN_PORT"]), int(environ["PLUGIN_MAX_PORT"])
    except (KeyError, ValueError):
        return [0]
    if not 0 < low <= high < 65536:
        return [0]
    import random

    start = random.randint(low, high)
    return list(range(start, high + 1)) + list(range(low, start))


def _listen(environ: dict[str, str]) -> socket.socket:
    """The TLS endpoint's listening socket; every connection accepted from it sends without delay.

    Nagle's algorithm holds back a small TLS record while an earlier one is unacknowledged, and Terraform's
    side delays its acknowledgements by up to 40 ms: gRPC's small frames (settings, headers, trailers) stalled
    exchanges by 40 ms, several times per provider process (DECISIONS.md#d66). An accepted socket inherits
    TCP_NODELAY from the listener (`TlsFront` sets it again on each), and the socket is made with IPPROTO_TCP.
    """
    last_error: OSError | None = None
    for port in _ports(environ):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(16)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise OSError(f"no free port on 127.0.0.1 for the plugin server: {last_error}")


def _private_directory() -> str:
    """A new directory only this user can enter (0700) in the temporary directory, for the gRPC socket and
    the key's pipes: what `tempfile.mkdtemp(prefix="vaultguard-provider-")` makes (`TMPDIR`, `TEMP`, `TMP`,
    then the platform's usual places), without importing tempfile, which brings shutil, bz2, lzma and random
    along: about 2 ms of every start (DECISIONS.md#d64)."""
    candidates = [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")]
    candidates += ["/tmp", "/var/tmp", "/usr/tmp", os.getcwd()]
    last_error: OSError | None = None
    for base in filter(None, candidates):
        for _ in range(100):
            path = os.path.join(os.path.abspath(base), "vaultguard-provider-" + os.urandom(6).hex())
            try:
                os.mkdir(path, 0o700)
                return path
            except FileExistsError:
                continue
            except OSError as exc:  # missing, not writable: the next place
                last_error = exc
                break
    raise OSError(f"no usable temporary directory for the plugin server: {last_error}")


def _remove_private_directory(path: str) -> None:
    """Remove what `_private_directory` made and everything in it (files only: a socket, pipes)."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def _fifo_with(directory: str, name: str, data: bytes) -> str:
    """A named pipe in `directory` that yields `data` once: how a key reaches OpenSSL without a file."""
    path = os.path.join(directory, name)
    os.mkfifo(path, 0o600)

    def feed() -> None:
        with open(path, "wb") as pipe:
            pipe.write(data)

    threading.Thread(target=feed, name=f"tls-{name}", daemon=True).start()
    return path


def tls_context(identity: ServerIdentity, client_cert_pem: bytes, private_dir: str) -> ssl.SSLContext:
    """Server-side TLS: our fresh identity, TLS 1.2+, ALPN h2, a client certificate required and
    verified against exactly Terraform's certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    # Terraform's certificate is its own root; the strict flag would also demand extensions it lacks.
    ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    ctx.load_verify_locations(cadata=client_cert_pem.decode())
    # grpc-go refuses a TLS server that does not negotiate ALPN h2.
    ctx.set_alpn_protocols(["h2"])
    ctx.load_cert_chain(
        _fifo_with(private_dir, "cert.pem", identity.cert_pem),
        _fifo_with(private_dir, "key.pem", identity.key_pem),
    )
    return ctx


class TlsFront:
    """Terminates Terraform's mutually authenticated TLS connection and relays the HTTP/2 bytes to the
    gRPC server's private unix socket.

    One daemon thread accepts; each connection is relayed by a thread of its own, with the TLS socket and the
    unix socket non-blocking under one selector (`_Relay`). OpenSSL decrypts and encrypts inside
    `SSLSocket.recv` and `send`: no Python code runs per TLS record, where asyncio's SSL protocol (the relay
    this replaced) ran its state machine, buffers and stream wake-ups for every message in both directions.
    """

    def __init__(self, ctx: ssl.SSLContext, client_cert_der: bytes, inner_socket: str):
        self._ctx = ctx
        self._client_cert_der = client_cert_der
        self._inner_socket = inner_socket
        self._listener: socket.socket | None = None
        # close() writes a byte here: every selector watching the read end wakes up and its thread ends.
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None

    def start(self, sock: socket.socket) -> None:
        """Serve on the listening socket `sock` until close()."""
        sock.setblocking(False)
        self._listener = sock
        self._thread = threading.Thread(target=self._accept, name="tls-front", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening, end open relays and the accepting thread."""
        if self._listener is None:
            return
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._listener.close()
        self._listener = None

    def _accept(self) -> None:
        assert self._listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                try:
                    conn, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:  # e.g. out of file descriptors: say so, keep serving
                    sys.stderr.write(f"vault provider: cannot accept a connection: {exc}\n")
                    time.sleep(0.05)
                    continue
                threading.Thread(target=self._serve, args=(conn,), name="tls-relay", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        """The TLS handshake (at most 10 s), the pin on Terraform's certificate, then the relay."""
        try:
            conn.setblocking(True)
            # Inherited from the listener on Linux; set here too, where a platform does not (DECISIONS.md#d66).
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(10)
            tls = self._ctx.wrap_socket(conn, server_side=True)
        except (OSError, ValueError) as exc:
            # A client without Terraform's certificate fails the TLS handshake: one line in the provider log.
            sys.stderr.write(f"vault provider: connection error: TLS handshake failed: {exc!r}\n")
            conn.close()
            return
        # OpenSSL has verified the chain (and so possession of the key); also pin the exact certificate.
        if tls.getpeercert(binary_form=True) != self._client_cert_der:
            sys.stderr.write("vault provider: refused a TLS client that is not this Terraform\n")
            tls.close()
            return
        inner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            inner.connect(self._inner_socket)
        except OSError as exc:
            sys.stderr.write(f"vault provider: gRPC server unavailable: {exc}\n")
            inner.close()
            tls.close()
            return
        try:
            _Relay(tls, inner, self._wake_r).run()
        finally:
            inner.close()
            tls.close()


# What one direction of a relay holds before it stops reading from its source (flow control on both sides).
_RELAY_BUFFER = 1 << 20
_CHUNK = 1 << 16


class _Relay:
    """Both directions of one connection, in one thread: TLS (Terraform) <-> unix socket (gRPC server).

    Every wake-up tries every transfer; a would-block just ends that transfer until the next wake-up. Data
    OpenSSL has decrypted but not yet handed over (`pending`) does not make the socket readable, so the
    selector does not wait while there is some. Terraform's end of its stream half-closes the unix side; the
    gRPC server's end of its stream, once relayed, ends the connection (as when the process stops).
    """

    def __init__(self, tls: ssl.SSLSocket, inner: socket.socket, wake: socket.socket):
        self.tls, self.inner, self.wake = tls, inner, wake
        self.to_inner = bytearray()
        self.to_tls = bytearray()
        self.tls_done = False  # Terraform sent EOF (or the TLS side failed): nothing more to read from it
        self.inner_done = False  # the gRPC server sent EOF
        self.inner_shut = False  # EOF passed on to the gRPC server
        self.tls_wants_read = False  # the last TLS send needs a TLS read first (possible under TLS 1.3)

    def run(self) -> None:
        tls, inner = self.tls, self.inner
        tls.setblocking(False)
        inner.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(self.wake, selectors.EVENT_READ)
            registered = {tls: 0, inner: 0}
            while True:
                if not self._step():
                    return
                # A send that waits for a TLS read (tls_wants_read) is retried when a read is possible: not
                # while the inbound buffer is full (the unix side's write readiness wakes the loop once it
                # drains) nor after Terraform's EOF. Asking for readability then would wake at once, forever.
                wanted = {
                    tls: (selectors.EVENT_READ if self._read_tls_now() else 0)
                    | (selectors.EVENT_WRITE if self.to_tls and not self.tls_wants_read else 0),
                    inner: (selectors.EVENT_READ if not self.inner_done and len(self.to_tls) < _RELAY_BUFFER else 0)
                    | (selectors.EVENT_WRITE if self.to_inner else 0),
                }
                for sock, events in wanted.items():
                    if events != registered[sock]:
                        if registered[sock] and events:
                            selector.modify(sock, events)
                        elif events:
                            selector.register(sock, events)
                        else:
                            selector.unregister(sock)
                        registered[sock] = events
                timeout = 0 if self._read_tls_now() and tls.pending() else None
                for key, _ in selector.select(timeout):
                    if key.fileobj is self.wake:
                        return

    def _read_tls_now(self) -> bool:
        return not self.tls_done and len(self.to_inner) < _RELAY_BUFFER

    def _step(self) -> bool:
        """Move what can be moved without blocking; False when the connection is over."""
        try:
            self._read_tls()
            self._read_inner()
            self._send_inner()
            self._send_tls()
        except (ssl.SSLError, OSError):
            return False  # either side failed: the connection is over (Terraform sees the stream end)
        if self.tls_done and not self.to_inner and not self.inner_shut:
            self.inner.shutdown(socket.SHUT_WR)
            self.inner_shut = True
        return not (self.inner_done and not self.to_tls)

    def _read_tls(self) -> None:
        while self._read_tls_now():
            try:
                data = self.tls.recv(_CHUNK)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            if not data:
                self.tls_done = True
                return
            self.to_inner += data
            self.tls_wants_read = False

    def _read_inner(self) -> None:
        while not self.inner_done and len(self.to_tls) < _RELAY_BUFFER:
            try:
                data = self.inner.recv(_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                self.inner_done = True
                return
            self.to_tls += data

    def _send_inner(self) -> None:
        while self.to_inner:
            try:
                sent = self.inner.send(self.to_inner)
            except (BlockingIOError, InterruptedError):
                return
            del self.to_inner[:sent]

    def _send_tls(self) -> None:
        # A send that would block is repeated with the same bytes at the start of the buffer, and at least as
        # many of them, as OpenSSL requires of a repeated write.
        while self.to_tls:
            try:
                sent = self.tls.send(self.to_tls[:_CHUNK])
            except ssl.SSLWantWriteError:
                return
            except ssl.SSLWantReadError:
                self.tls_wants_read = True
                return
            self.tls_wants_read = False
            del self.to_tls[:sent]


def _started() -> None:
    """Start-up is over. When it ran without the garbage collector (`main` turns it off), what it made is
    frozen, so that collections while serving never walk it again, and the collector is turned back on."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _plugin_grpc_server(provider: Provider, shutdown: threading.Event, socket_path: str):
    """The gRPC server with the provider's, go-plugin's controller and stdio services, listening on the
    unix socket `socket_path` (inside a 0700 directory). Not started."""
    from concurrent import futures

    import grpc
    from tf.gen import grpc_controller_pb2_grpc, grpc_stdio_pb2_grpc, tfplugin_pb2_grpc

    from vaultguard.provider.servicer import ControllerServicer, StdioServicer, VaultProviderServicer

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10, thread_name_prefix="tfplugin"))
    tfplugin_pb2_grpc.add_ProviderServicer_to_server(VaultProviderServicer(provider), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(ControllerServicer(shutdown), server)
    grpc_stdio_pb2_grpc.add_GRPCStdioServicer_to_server(StdioServicer(shutdown), server)
    if not server.add_insecure_port(f"unix:{socket_path}"):
        raise OSError(f"cannot listen on {socket_path}")
    return server


def serve(provider: Provider, environ: dict[str, str] | None = None, stdout: IO[str] | None = None) -> int:
    """Serve `provider` to the Terraform that started this process; return the process exit status.

    Blocks until Terraform asks the plugin to shut down (go-plugin's GRPCController.Shutdown) or the
    process receives SIGTERM.
    """
    environ = dict(os.environ if environ is None else environ)
    stdout = stdout or sys.stdout
    try:
        client_cert_pem = read_client_certificate(environ)
        client_cert_der = _pem_to_der(client_cert_pem)
    except (HandshakeError, ValueError) as exc:
        sys.stderr.write(str(exc).rstrip("\n") + "\n")
        return 1

    # Made 0700: only this user can reach the gRPC socket inside it.
    private_dir = _private_directory()
    inner_socket = os.path.join(private_dir, "grpc.sock")
    stopping = threading.Event()
    server = None
    front: TlsFront | None = None
    try:
        server = _plugin_grpc_server(provider, stopping, inner_socket)
        identity = generate_server_identity()
        ctx = tls_context(identity, client_cert_pem, private_dir)
        listener = _listen(environ)
        port = listener.getsockname()[1]

        # Like go-plugin servers: an interrupt is for Terraform to handle (it sends StopProvider, then
        # Shutdown); a plugin dying on Ctrl-C would cut an apply short behind Terraform's back.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())

        server.start()
        front = TlsFront(ctx, client_cert_der, inner_socket)
        front.start(listener)
        stdout.write(handshake_line(port, identity.cert_der))
        stdout.flush()
        _started()

        while not stopping.wait(timeout=0.5):
            pass
        return 0
    except (OSError, ssl.SSLError) as exc:
        sys.stderr.write(f"vault provider: cannot start the plugin server: {exc}\n")
        return 1
    finally:
        # gRPC first, so the answer to Shutdown still travels back through the relay.
        if server is not None:
            server.stop(grace=_SHUTDOWN_GRACE_SECONDS).wait()
        if front is not None:
            front.close()
        _remove_private_directory(private_dir)


# The variable Terraform reads to use an already running provider instead of starting its own.
REATTACH_ENV = "TF_REATTACH_PROVIDERS"


def reattach_config(provider_address: str, pid: int, socket_path: str) -> str:
    """The TF_REATTACH_PROVIDERS value (JSON) that points Terraform at a provider serving on `socket_path`.

    `Test: true` tells Terraform the process is not its own: it neither waits for nor ends it.
    """
    import json

    return json.dumps(
        {
            provider_address: {
                "Protocol": "grpc",
                "ProtocolVersion": PLUGIN_PROTOCOL_VERSION,
                "Pid": pid,
                "Test": True,
                "Addr": {"Network": "unix", "String": socket_path},
            }
        },
        separators=(",", ":"),
    )


def serve_debug(provider: Provider, provider_address: str, stdout: IO[str] | None = None) -> int:
    """Serve `provider` for any number of Terraform runs that attach to it (`TF_REATTACH_PROVIDERS`),
    until SIGINT or SIGTERM; print the variable's value as the first stdout line.

    Terraform dials an attached provider without TLS (its reattach configuration has no certificates), so
    this mode serves only on a unix socket inside a private 0700 directory: other users cannot connect.
    The process keeps one provider configuration at a time, the one of the latest ConfigureProvider, and
    reads its environment (VAULT_TOKEN, ...) from its own start, not from each Terraform run.
    """
    stdout = stdout or sys.stdout
    private_dir = _private_directory()
    socket_path = os.path.join(private_dir, "grpc.sock")
    stopping = threading.Event()
    # Terraform's Shutdown ends a run, not this process: it is ignored here.
    server = None
    try:
        server = _plugin_grpc_server(provider, threading.Event(), socket_path)
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        server.start()
        stdout.write(reattach_config(provider_address, os.getpid(), socket_path) + "\n")
        stdout.flush()
        _started()
        while not stopping.wait(timeout=0.5):
            pass
        return 0
    except OSError as exc:
        sys.stderr.write(f"vault provider: cannot start the plugin server: {exc}\n")
        return 1
    finally:
        if server is not None:
            server.stop(grace=_SHUTDOWN_GRACE_SECONDS).wait()
        _remove_private_directory(private_dir)
