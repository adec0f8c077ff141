"""Facts about the project's CA: where it is and who trusts it (no network).

The CA lives in mitmproxy's confdir layout (scripts/ca.py writes it):
``mitmproxy-ca.pem`` (key + cert, mode 0600), ``mitmproxy-ca-cert.pem`` (the
cert clients trust) and ``ca-bundle.pem`` (system roots + the CA).
"""

from __future__ import annotations

import base64
import re
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

KEY_FILE = "mitmproxy-ca.pem"
CERT_FILE = "mitmproxy-ca-cert.pem"
BUNDLE_FILE = "ca-bundle.pem"

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)


def cert_path(confdir: str | Path) -> Path:
    return Path(confdir) / CERT_FILE


def load_cert(confdir: str | Path) -> x509.Certificate | None:
    """The CA certificate in ``confdir``, or None if there is none (or it is unreadable)."""
    try:
        return x509.load_pem_x509_certificate(cert_path(confdir).read_bytes())
    except (OSError, ValueError):
        return None


def pem_ders(data: bytes) -> set[bytes]:
    """The DER bytes of every certificate in a PEM bundle."""
    out = set()
    for match in _PEM.finditer(data):
        try:
            out.add(base64.b64decode(b"".join(match.group(1).split())))
        except ValueError:
            continue
    return out


def in_bundle(cert: x509.Certificate, bundle: str | Path) -> bool:
    try:
        data = Path(bundle).read_bytes()
    except OSError:
        return False
    return cert.public_bytes(serialization.Encoding.DER) in pem_ders(data)


def system_bundle() -> Path | None:
    """OpenSSL's own default bundle (not $SSL_CERT_FILE): what the system trusts."""
    paths = ssl.get_default_verify_paths()
    for candidate in (
        paths.openssl_cafile,
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def system_trusts(cert: x509.Certificate) -> bool | None:
    """Whether the system bundle holds ``cert``; None when there is no bundle to read
    (macOS keeps its roots in the Keychain)."""
    bundle = system_bundle()
    return None if bundle is None else in_bundle(cert, bundle)


def constrained(cert: x509.Certificate) -> bool:
    """Whether ``cert`` carries a critical nameConstraints extension (ours does)."""
    try:
        return cert.extensions.get_extension_for_class(x509.NameConstraints).critical
    except x509.ExtensionNotFound:
        return False


def permitted_names(cert: x509.Certificate) -> tuple[str, ...] | None:
    """The DNS names a name-constrained CA may sign for; None when it is not
    name-constrained (it signs for anything)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return None
    return tuple(
        str(n.value) for n in ext.value.permitted_subtrees or [] if isinstance(n, x509.DNSName)
    )
