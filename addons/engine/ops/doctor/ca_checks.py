"""The project's CA: generated, private, name-constrained, trusted by whom."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from omniroute_mitm.engine.core import endpoints, paths, trust

from .base import Context, Result, show
from .tlsprobe import leaf_chain, loopback_server, node_handshake, python_handshake, server_context

GENERATE = ".venv/bin/python scripts/ca.py generate"
ROTATE = ".venv/bin/python scripts/ca.py generate --force"


def check_ca(ctx: Context) -> Iterator[Result]:
    key_file = ctx.confdir / trust.KEY_FILE
    if not key_file.exists():
        yield Result("error", "CA", f"none in {show(ctx.confdir)}", GENERATE)
        return
    mode = key_file.stat().st_mode & 0o777
    if mode & 0o077:
        yield Result(
            "error",
            "CA key",
            f"{show(key_file)} has mode {mode:04o}, readable by others",
            f"chmod 600 {show(key_file)} {show(key_file.with_suffix('.p12'))}",
        )
    else:
        yield Result("ok", "CA key", f"{show(key_file)} (mode 0600)")
    cert = trust.load_cert(ctx.confdir)
    if cert is None:
        yield Result("error", "CA", f"cannot read {show(trust.cert_path(ctx.confdir))}", ROTATE)
        return
    yield _constraints(cert, ctx)
    yield _expiry(cert)


def _constraints(cert: x509.Certificate, ctx: Context) -> Result:
    try:
        ext = cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return Result("error", "CA", "not name-constrained: it could sign for any site", ROTATE)
    permitted = [str(n.value) for n in ext.value.permitted_subtrees or []]
    uncovered = endpoints.uncovered(permitted, ctx.config)
    if not ext.critical:
        return Result("error", "CA", "its name constraints are not critical", ROTATE)
    if uncovered:
        rotate = ROTATE
        if ctx.config_path.resolve() != paths.config_file().resolve():
            rotate += f" --config {show(ctx.config_path)}"
        return Result(
            "warning",
            "CA",
            f"cannot sign for {', '.join(uncovered)} (the endpoint "
            "catalog or config.yaml names them): they stay tunnelled, not routed, "
            "until the CA is regenerated with the names they need",
            rotate + " (it computes them from the catalog and config.yaml; clients "
            "then trust the new CA: the env line, or ca.py install)",
        )
    if not ext.value.excluded_subtrees:
        return Result("warning", "CA", "IP addresses are not excluded", ROTATE)
    return Result("ok", "CA", "name-constrained to " + ", ".join(permitted))


def _expiry(cert: x509.Certificate) -> Result:
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    if left.total_seconds() <= 0:
        return Result("error", "CA", "expired", ROTATE)
    if left.days < 30:
        return Result("warning", "CA", f"expires in {left.days} days", ROTATE)
    return Result("ok", "CA", f"valid until {cert.not_valid_after_utc:%Y-%m-%d}")


def check_trust(ctx: Context) -> Iterator[Result]:
    """Handshakes with a leaf the CA signs, as the system, Python and Node clients do."""
    try:
        chain = leaf_chain((ctx.confdir / trust.KEY_FILE).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        if (ctx.confdir / trust.KEY_FILE).exists():
            yield Result("error", "CA", f"cannot sign a test leaf: {exc}", ROTATE)
        return
    with server_context(chain) as server:
        yield _system(server)
        yield _python_bundle(ctx, server)
        yield _node(ctx, server)


def _system(server: ssl.SSLContext) -> Result:
    bundle = trust.system_bundle()
    if bundle is None:
        return Result("warning", "system store", "no OpenSSL bundle to check (macOS Keychain?)")
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cafile=str(bundle))
    reason = python_handshake(server, client)
    if reason is None:
        return Result("ok", "system store", f"trusts the CA ({bundle})")
    return Result(
        "warning",
        "system store",
        f"does not trust the CA ({bundle}); clients need the env line",
        "sudo .venv/bin/python scripts/ca.py install (optional)",
    )


def _python_bundle(ctx: Context, server: ssl.SSLContext) -> Result:
    bundle = ctx.confdir / trust.BUNDLE_FILE
    try:
        client = ssl.create_default_context(cafile=str(bundle))
    except (OSError, ssl.SSLError) as exc:
        return Result("error", "Python bundle", f"cannot load {show(bundle)}: {exc}", GENERATE)
    reason = python_handshake(server, client)
    if reason is not None:
        return Result(
            "error",
            "Python bundle",
            f"{show(bundle)} does not verify the CA's leaves: {reason}",
            GENERATE,
        )
    roots = len(trust.pem_ders(Path(bundle).read_bytes())) - 1
    return Result(
        "ok",
        "Python bundle",
        f"{show(bundle)} verifies the CA's leaves "
        f"(+ {roots} system roots) for SSL_CERT_FILE / REQUESTS_CA_BUNDLE",
    )


def _node(ctx: Context, server: ssl.SSLContext) -> Result:
    cert = trust.cert_path(ctx.confdir)
    with loopback_server(server) as port:
        try:
            reason = node_handshake(port, cert, ctx.env.get("PATH", ""), ctx.timeout * 2)
        except FileNotFoundError:
            return Result("ok", "Node", "node not installed: skipped")
    if reason is not None:
        return Result(
            "error",
            "Node",
            f"NODE_EXTRA_CA_CERTS={show(cert)} does not verify the CA's leaves: {reason}",
            ROTATE,
        )
    return Result("ok", "Node", f"NODE_EXTRA_CA_CERTS={show(cert)} verifies the CA's leaves")
