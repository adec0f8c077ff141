"""Real TLS handshakes against a leaf the project's CA signs, as a client sees it.

Python's are done in memory; Node's against a loopback server on this machine.
"""

from __future__ import annotations

import datetime
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PROBE_HOST = "api.anthropic.com"


def leaf_chain(ca_pem: bytes, host: str = PROBE_HOST) -> bytes:
    """key + leaf cert for ``host``, signed by the CA in ``ca_pem`` (key + cert)."""
    ca_key = serialization.load_pem_private_key(ca_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False
        )  # type: ignore[arg-type]
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


@contextmanager
def server_context(chain: bytes) -> Iterator[ssl.SSLContext]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leaf.pem"
        path.write_bytes(chain)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(path)
        yield ctx


def python_handshake(
    server: ssl.SSLContext, client: ssl.SSLContext, host: str = PROBE_HOST
) -> str | None:
    """None when ``client`` accepts the leaf; else what it said."""
    bios = [ssl.MemoryBIO() for _ in range(4)]
    c = client.wrap_bio(bios[0], bios[1], server_hostname=host)
    s = server.wrap_bio(bios[2], bios[3], server_side=True)
    for _ in range(8):
        for side, outgoing, peer in ((c, bios[1], bios[2]), (s, bios[3], bios[0])):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                if side is c:
                    return getattr(exc, "verify_message", None) or exc.reason or str(exc)
            peer.write(outgoing.read())
    try:
        c.do_handshake()
    except ssl.SSLError as exc:
        return getattr(exc, "verify_message", None) or exc.reason or str(exc)
    return None


@contextmanager
def loopback_server(server: ssl.SSLContext) -> Iterator[int]:
    """A TLS server on 127.0.0.1 answering handshakes until the block ends; yields its port."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                with server.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


NODE_SCRIPT = """
const tls = require('tls');
const s = tls.connect({host: '127.0.0.1', port: +process.argv[1], servername: process.argv[2]},
  () => { s.end(); process.exit(0); });
s.on('error', (e) => { console.log(e.code || e.message); process.exit(1); });
"""


def node_handshake(
    port: int, extra_ca: Path, env_path: str, timeout: float, host: str = PROBE_HOST
) -> str | None:
    """None when Node with NODE_EXTRA_CA_CERTS=extra_ca accepts the leaf; else the reason.
    Raises FileNotFoundError when there is no node."""
    node = shutil.which("node", path=env_path)
    if node is None:
        raise FileNotFoundError("node")
    env = {"PATH": env_path, "NODE_EXTRA_CA_CERTS": str(extra_ca)}
    try:
        proc = subprocess.run(
            [node, "-e", NODE_SCRIPT, str(port), host],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"no answer in {timeout:g}s"
    if proc.returncode == 0:
        return None
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return lines[-1] if lines else f"exit {proc.returncode}"
