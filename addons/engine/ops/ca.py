"""The project's certificate authority: generate, install, uninstall, print client env.

The CA is name-constrained (a critical nameConstraints extension): it can only
sign for the AI hosts the proxy intercepts, so installing it as a trusted root
does not let anyone who steals the key impersonate any other site. Files are
written in mitmproxy's confdir layout, so ``mitmdump --set confdir=certs`` uses
this CA instead of generating its own unconstrained one. The folder is made
0700 and the key files 0600 whatever the umask.

    python scripts/ca.py generate [--force]     # idempotent; --force rotates
    python scripts/ca.py env [--port 8080] [--client claude|codex|gemini|qwen|opencode|aider|sdk]
                                                # lines to eval in the client's shell
    sudo python scripts/ca.py install           # system trust store (Linux, macOS)
    sudo python scripts/ca.py uninstall

Installed from a wheel, ``omniroute ca ...`` is the same command.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import platform
import shlex
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from omniroute_mitm.engine.core import endpoints, paths, private, summary

CERTS = paths.certs_dir()
BASENAME = "mitmproxy"  # mitmproxy's CONF_BASENAME: it looks for mitmproxy-ca.pem
CA_NAME = "omniroute-mitm CA (AI API hosts only)"
BUNDLE = "ca-bundle.pem"  # system roots + this CA, for clients whose variable replaces roots
INSTALL_NAME = "omniroute-mitm"

# Each entry also covers its subdomains (RFC 5280 dNSName constraint semantics):
# the builtin hosts' domains, then every host of the endpoint catalog
# (engine.core.endpoints). ``generate`` adds config.yaml's endpoints and
# route hosts (:func:`needed_domains`).
DOMAINS = endpoints.ca_names()

KEY_SIZE = 2048  # mitmproxy signs every leaf with this key and serves it as the leaf key
VALIDITY = datetime.timedelta(days=3650)


# ----------------------------------------------------------------------------- generate


def build_ca(domains: tuple[str, ...] = DOMAINS) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "omniroute-mitm"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(d) for d in domains],
        # Without this, a DNS-only constraint leaves IP addresses unconstrained.
        excluded_subtrees=[
            x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")),
            x509.IPAddress(ipaddress.ip_network("::/0")),
        ],
    )
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(constraints, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (never briefly world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ca_files(confdir: Path) -> dict[str, Path]:
    return {
        "key+cert": confdir / f"{BASENAME}-ca.pem",
        "key+cert p12": confdir / f"{BASENAME}-ca.p12",
        "cert": confdir / f"{BASENAME}-ca-cert.pem",
        "cert cer": confdir / f"{BASENAME}-ca-cert.cer",
        "cert p12": confdir / f"{BASENAME}-ca-cert.p12",
        "bundle": confdir / BUNDLE,
    }


def write_ca(confdir: Path, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    private.tighten_dir(confdir)  # 0700 whatever the umask: it holds the CA's private key
    files = ca_files(confdir)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    none = serialization.NoEncryption()
    _write(files["key+cert"], key_pem + cert_pem, 0o600)
    _write(
        files["key+cert p12"],
        pkcs12.serialize_key_and_certificates(BASENAME.encode(), key, cert, None, none),
        0o600,
    )
    _write(files["cert"], cert_pem, 0o644)
    _write(files["cert cer"], cert_pem, 0o644)
    _write(
        files["cert p12"],
        pkcs12.serialize_key_and_certificates(BASENAME.encode(), None, cert, None, none),
        0o644,
    )
    write_bundle(confdir, cert_pem)


def system_roots() -> bytes:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_bytes()
    try:
        import certifi
    except ImportError:
        return b""
    return Path(certifi.where()).read_bytes()


def write_bundle(confdir: Path, cert_pem: bytes) -> None:
    roots = system_roots()
    if roots and not roots.endswith(b"\n"):
        roots += b"\n"
    _write(confdir / BUNDLE, roots + cert_pem, 0o644)


def load_cert(confdir: Path) -> x509.Certificate | None:
    path = ca_files(confdir)["cert"]
    return x509.load_pem_x509_certificate(path.read_bytes()) if path.exists() else None


def permitted_domains(cert: x509.Certificate) -> tuple[str, ...]:
    nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    return tuple(str(n.value) for n in nc.permitted_subtrees or [])


def generate(
    confdir: Path = CERTS, force: bool = False, domains: tuple[str, ...] = DOMAINS
) -> bool:
    """Create the CA unless a valid one exists; returns True if it wrote a new one."""
    existing = None if force else _current(confdir)
    if existing is not None:
        have = permitted_domains(existing)
        if missing := [d for d in domains if not endpoints.covers(have, d)]:
            print(
                f"ca: the CA in {confdir} does not permit {', '.join(missing)}: rotate it with "
                "`scripts/ca.py generate --force` (clients then trust the new CA: the env "
                "line again, or `sudo scripts/ca.py install`)",
                file=sys.stderr,
            )
        return False
    for path in ca_files(confdir).values():
        path.unlink(missing_ok=True)
    key, cert = build_ca(tuple(domains))
    write_ca(confdir, key, cert)
    return True


def needed_domains(config_path: Path | None = None) -> tuple[str, ...]:
    """The names for a new CA: the catalog's and those config.yaml adds
    (its endpoints and route hosts); a config that does not load adds none."""
    config = summary.load_quietly(config_path or paths.config_file())
    return endpoints.ca_names(config)


def _current(confdir: Path) -> x509.Certificate | None:
    """The CA in ``confdir`` if it is complete, ours (name-constrained) and not expiring."""
    if not ca_files(confdir)["key+cert"].exists():
        return None
    try:
        cert = load_cert(confdir)
        if cert is None:
            return None
        permitted_domains(cert)
    except (ValueError, x509.ExtensionNotFound):
        return None
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    if cert.not_valid_after_utc < soon:
        return None
    if not ca_files(confdir)["bundle"].exists():
        write_bundle(confdir, cert.public_bytes(serialization.Encoding.PEM))
    return cert


def client_cert(confdir: Path) -> x509.Certificate | None:
    """The CA's certificate, for a machine whose clients trust it: the key may
    live elsewhere (a team's gateway hands its members the certificate
    alone), and the bundle is made from the certificate when it is missing."""
    try:
        cert = load_cert(confdir)
        if cert is None:
            return None
        permitted_domains(cert)
    except (ValueError, x509.ExtensionNotFound):
        return None
    if not ca_files(confdir)["bundle"].exists():
        write_bundle(confdir, cert.public_bytes(serialization.Encoding.PEM))
    return cert


# ----------------------------------------------------------------------------- install


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def install_commands(confdir: Path, remove: bool = False) -> list[list[str]]:
    """The commands that add (or remove) the CA in the system trust store."""
    cert_path = ca_files(confdir)["cert"]
    system = platform.system()
    if system == "Darwin":
        keychain = "/Library/Keychains/System.keychain"
        if remove:
            cert = load_cert(confdir)
            if cert is None:
                raise SystemExit(f"ca: no CA in {confdir}")
            return [["security", "delete-certificate", "-Z", fingerprint(cert), keychain]]
        return [
            [
                "security",
                "add-trusted-cert",
                "-d",
                "-r",
                "trustRoot",
                "-k",
                keychain,
                str(cert_path),
            ]
        ]
    if system != "Linux":
        raise SystemExit(f"ca: install is supported on Linux and macOS, not {system}")
    if Path("/usr/local/share/ca-certificates").is_dir() or shutil.which("update-ca-certificates"):
        target = Path(f"/usr/local/share/ca-certificates/{INSTALL_NAME}.crt")
        update = ["update-ca-certificates", "--fresh"] if remove else ["update-ca-certificates"]
    else:  # Fedora, RHEL, Arch (p11-kit)
        target = Path(f"/etc/pki/ca-trust/source/anchors/{INSTALL_NAME}.pem")
        update = ["update-ca-trust", "extract"]
    first = (
        ["rm", "-f", str(target)]
        if remove
        else ["install", "-m", "0644", str(cert_path), str(target)]
    )
    return [first, update]


def run_install(confdir: Path, remove: bool, dry_run: bool) -> int:
    if not remove and client_cert(confdir) is None:
        raise SystemExit(f"ca: no CA in {confdir}; run `python scripts/ca.py generate` first")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    for cmd in install_commands(confdir, remove):
        full = sudo + cmd
        print(("would run: " if dry_run else "running: ") + shlex.join(full))
        if not dry_run:
            subprocess.run(full, check=True)
    return 0


# ----------------------------------------------------------------------------- env


CLIENTS = ("claude", "codex", "gemini", "qwen", "opencode", "aider", "sdk")
# What each client reads: (variable, file, why). "cert" is the CA alone (added to
# the built-in roots); "bundle" is system roots + the CA (the variable replaces roots).
CLIENT_VARS: dict[str, list[tuple[str, str, str]]] = {
    "claude": [("NODE_EXTRA_CA_CERTS", "cert", "Node: added to the built-in roots")],
    "codex": [("SSL_CERT_FILE", "bundle", "replaces the roots: system roots + this CA")],
    "gemini": [
        (
            "NODE_EXTRA_CA_CERTS",
            "cert",
            "Node: added to the built-in roots (SSL_CERT_FILE is not honoured)",
        )
    ],
    "qwen": [("NODE_EXTRA_CA_CERTS", "cert", "Node (Qwen Code): added to the built-in roots")],
    "opencode": [("NODE_EXTRA_CA_CERTS", "cert", "OpenCode (Bun): added to the built-in roots")],
    "aider": [
        ("SSL_CERT_FILE", "bundle", "Aider (LiteLLM, httpx): system roots + this CA"),
        ("REQUESTS_CA_BUNDLE", "bundle", "Aider's requests-based calls"),
    ],
    "sdk": [
        ("SSL_CERT_FILE", "bundle", "Python SDKs (httpx): system roots + this CA"),
        ("REQUESTS_CA_BUNDLE", "bundle", "requests-based code"),
        ("NODE_EXTRA_CA_CERTS", "cert", "Node SDKs"),
    ],
}
KEY_HINTS = {
    "claude": "ANTHROPIC_API_KEY=sk-ant-anything (a routed call gets the provider's key)",
    "codex": "CODEX_API_KEY=sk-anything (OPENAI_API_KEY alone sends no key)",
    "gemini": "GEMINI_API_KEY=anything (a routed call gets the provider's key)",
    "qwen": "OPENAI_API_KEY=anything OPENAI_BASE_URL=https://dashscope-intl.aliyuncs.com/"
    "compatible-mode/v1 (a routed call gets the provider's key)",
    "opencode": "MOONSHOT_API_KEY=anything (the README's opencode.json provider at "
    "api.moonshot.ai reads it; a routed call gets the provider's key)",
    "aider": "MISTRAL_API_KEY=anything, then aider --model mistral/<model> (a routed call "
    "gets the provider's key)",
}


PASSWORD_VAR = "OMNIROUTE_PROXY_PASSWORD"


def env_lines(
    confdir: Path = CERTS,
    port: int = 8080,
    host: str = "127.0.0.1",
    client: str | None = None,
    user: str | None = None,
) -> list[str]:
    """Shell lines for one client (or, with ``client=None``, for all of them);
    ``user``: a proxy user's (their password from $OMNIROUTE_PROXY_PASSWORD)."""
    files = ca_files(confdir.resolve())
    proxy = f"export HTTPS_PROXY=http://{host}:{port}"
    if user is not None:
        proxy = (f'export HTTPS_PROXY="http://{quote(user, safe="")}:${{{PASSWORD_VAR}}}'
                 f'@{host}:{port}"')  # fmt: skip
    lines = [proxy, "export NO_PROXY=localhost,127.0.0.1"]
    if user is not None:
        lines.insert(0, f"# your proxy password in ${PASSWORD_VAR} (percent-encode : @ / %)")
    if client is None:
        return lines + [
            "# Node clients (Claude Code, Gemini CLI): added to the built-in roots",
            f"export NODE_EXTRA_CA_CERTS={shlex.quote(str(files['cert']))}",
            "# these replace the default roots, hence the bundle (system roots + this CA)",
            f"export SSL_CERT_FILE={shlex.quote(str(files['bundle']))}",
            f"export REQUESTS_CA_BUNDLE={shlex.quote(str(files['bundle']))}",
            f"export CODEX_CA_CERTIFICATE={shlex.quote(str(files['bundle']))}",
        ]
    for name, kind, why in CLIENT_VARS[client]:
        lines += [f"# {why}", f"export {name}={shlex.quote(str(files[kind]))}"]
    if client in KEY_HINTS:
        lines.append(f"# no account of your own? export {KEY_HINTS[client]}")
    return lines


# ----------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", type=Path, default=CERTS, help="confdir (default: certs/)")
    sub = p.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("generate", help="create the CA (idempotent)")
    gen.add_argument("--force", action="store_true", help="rotate: replace an existing CA")
    gen.add_argument(
        "--domain",
        action="append",
        help="permitted domain (repeatable; "
        "replaces the list computed from the catalog and the config)",
    )
    gen.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config.yaml whose endpoints and route hosts the CA permits too "
        "(default: the project's config.yaml)",
    )
    for name in ("install", "uninstall"):
        sp = sub.add_parser(name, help=f"{name} the CA in the system trust store (root)")
        sp.add_argument("--dry-run", action="store_true", help="print the commands only")
    env = sub.add_parser("env", help="print the environment lines for clients")
    env.add_argument("--port", type=int, default=8080)
    env.add_argument("--host", default="127.0.0.1")
    env.add_argument(
        "--user",
        help="a proxy user's name (the gateway's proxyauth); the "
        f"password is read from ${PASSWORD_VAR} when the line runs",
    )
    env.add_argument(
        "--client",
        choices=CLIENTS,
        help="only what this client needs (default: every client's lines)",
    )
    args = p.parse_args(argv)

    if args.cmd == "generate":
        domains = tuple(args.domain) if args.domain else needed_domains(args.config)
        made = generate(args.dir, args.force, domains)
        cert = load_cert(args.dir)
        assert cert is not None
        state = "generated" if made else "kept existing"
        print(f"ca: {state} {ca_files(args.dir)['cert']} (sha1 {fingerprint(cert)})")
        print(f"ca: permitted domains: {', '.join(permitted_domains(cert))}")
        return 0
    if args.cmd in ("install", "uninstall"):
        return run_install(args.dir, args.cmd == "uninstall", args.dry_run)
    if client_cert(args.dir) is None:
        print(
            f"# ca: no CA in {args.dir} yet: run `python scripts/ca.py generate` (or copy "
            f"{ca_files(args.dir)['cert'].name} of your team's gateway there)",
            file=sys.stderr,
        )
    print("\n".join(env_lines(args.dir, args.port, args.host, args.client, args.user)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
