"""scripts/ca.py: a name-constrained CA in mitmproxy's confdir layout.

The leaf checks are real TLS handshakes (in memory) between a client that
trusts only our CA and a server holding a leaf that mitmproxy's own CertStore
issued from it, so they test what a client will see through the proxy.
"""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from mitmproxy import certs
from omniroute_mitm.engine.ops import ca as ca_module

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ca.py"


ca = ca_module


@pytest.fixture(scope="module")
def confdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    assert ca.generate(d) is True
    return d


@pytest.fixture(scope="module")
def store(confdir) -> certs.CertStore:
    return certs.CertStore.from_store(confdir, "mitmproxy", 2048)


def handshake(store: certs.CertStore, cafile: Path, host: str, sans, tmp: Path) -> None:
    """A TLS handshake over memory BIOs; raises SSLCertVerificationError if the leaf fails."""
    entry = store.get_cert(host, sans)
    chain = tmp / f"leaf-{host}.pem"
    key = entry.privatekey.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    chain.write_bytes(key + entry.cert.to_pem())
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain)
    client_ctx = ssl.create_default_context(cafile=str(cafile))
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = client_ctx.wrap_bio(bios[0], bios[1], server_hostname=host)
    server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
    pairs = ((client, bios[1], bios[2]), (server, bios[3], bios[0]))
    for _ in range(6):
        for side, outgoing, peer_incoming in pairs:
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                if side is client:
                    raise
            peer_incoming.write(outgoing.read())
    client.do_handshake()  # completes, or raises what the client saw


def test_files_and_modes(confdir):
    modes = {p.name: p.stat().st_mode & 0o777 for p in confdir.iterdir()}
    assert modes["mitmproxy-ca.pem"] == 0o600
    assert modes["mitmproxy-ca.p12"] == 0o600
    for public in ("mitmproxy-ca-cert.pem", "mitmproxy-ca-cert.cer", "mitmproxy-ca-cert.p12",
                   "ca-bundle.pem"):
        assert modes[public] == 0o644
    both = (confdir / "mitmproxy-ca.pem").read_bytes()
    assert b"PRIVATE KEY" in both and b"BEGIN CERTIFICATE" in both
    assert b"PRIVATE KEY" not in (confdir / "mitmproxy-ca-cert.pem").read_bytes()


def test_name_constraints_are_critical_and_narrow(confdir):
    cert = ca.load_cert(confdir)
    nc = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    assert {str(n.value) for n in nc.value.permitted_subtrees} == set(ca.DOMAINS)
    assert {str(n.value) for n in nc.value.excluded_subtrees} == {"0.0.0.0/0", "::/0"}
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    for host in ("api.anthropic.com", "api.openai.com", "chatgpt.com",
                 "generativelanguage.googleapis.com", "cloudcode-pa.googleapis.com"):
        assert any(host == d or host.endswith("." + d) for d in ca.DOMAINS), host


def test_generate_is_idempotent_and_force_rotates(tmp_path):
    assert ca.generate(tmp_path) is True
    first = ca.load_cert(tmp_path).fingerprint(hashes.SHA256())
    key_before = (tmp_path / "mitmproxy-ca.pem").read_bytes()
    assert ca.generate(tmp_path) is False
    assert (tmp_path / "mitmproxy-ca.pem").read_bytes() == key_before
    assert ca.generate(tmp_path, force=True) is True
    assert ca.load_cert(tmp_path).fingerprint(hashes.SHA256()) != first
    assert (tmp_path / "mitmproxy-ca.pem").stat().st_mode & 0o777 == 0o600


def test_mitmproxy_uses_our_ca_instead_of_its_own(confdir, store):
    ours = ca.load_cert(confdir).fingerprint(hashes.SHA256())
    assert store.default_ca.fingerprint() == ours
    assert ca.load_cert(confdir).fingerprint(hashes.SHA256()) == ours  # nothing overwritten


@pytest.mark.parametrize("host", ["api.anthropic.com", "api.openai.com", "chatgpt.com",
                                  "generativelanguage.googleapis.com",
                                  "cloudcode-pa.googleapis.com"])
def test_leaf_for_an_intercepted_host_validates(confdir, store, host, tmp_path):
    handshake(store, confdir / "mitmproxy-ca-cert.pem", host, [x509.DNSName(host)], tmp_path)


@pytest.mark.parametrize("host,sans", [
    ("example.com", [x509.DNSName("example.com")]),
    ("evilopenai.com", [x509.DNSName("evilopenai.com")]),
    ("storage.googleapis.com", [x509.DNSName("storage.googleapis.com")]),
    ("api.openai.com", [x509.DNSName("api.openai.com"), x509.DNSName("www.google.com")]),
    ("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
    ("::1", [x509.IPAddress(ipaddress.ip_address("::1"))]),
    ("2001:db8::1", [x509.IPAddress(ipaddress.ip_address("2001:db8::1"))]),
])
def test_leaf_for_any_other_name_is_rejected(confdir, store, host, sans, tmp_path):
    with pytest.raises(ssl.SSLCertVerificationError, match="subtree violation"):
        handshake(store, confdir / "mitmproxy-ca-cert.pem", host, sans, tmp_path)


def test_bundle_holds_system_roots_and_ours(confdir):
    bundle = (confdir / "ca-bundle.pem").read_bytes()
    ours = (confdir / "mitmproxy-ca-cert.pem").read_bytes()
    assert bundle.endswith(ours)
    assert bundle.count(b"-----BEGIN CERTIFICATE-----") > 1


def test_env_lines(confdir):
    lines = ca.env_lines(confdir, port=8123)
    env = dict(line.removeprefix("export ").split("=", 1) for line in lines
               if line.startswith("export "))
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:8123"
    assert Path(env["NODE_EXTRA_CA_CERTS"]) == (confdir / "mitmproxy-ca-cert.pem").resolve()
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CODEX_CA_CERTIFICATE"):
        assert Path(env[name]) == (confdir / "ca-bundle.pem").resolve()
        assert Path(env[name]).is_absolute() and Path(env[name]).exists()


def parse_env(lines: list[str]) -> dict[str, str]:
    return dict(line.removeprefix("export ").split("=", 1) for line in lines
                if line.startswith("export "))


def test_env_lines_per_client_are_only_what_that_client_reads(confdir):
    cert = str((confdir / "mitmproxy-ca-cert.pem").resolve())
    bundle = str((confdir / "ca-bundle.pem").resolve())
    proxy = {"HTTPS_PROXY": "http://127.0.0.1:8123", "NO_PROXY": "localhost,127.0.0.1"}
    expected = {
        "claude": proxy | {"NODE_EXTRA_CA_CERTS": cert},
        "gemini": proxy | {"NODE_EXTRA_CA_CERTS": cert},
        "codex": proxy | {"SSL_CERT_FILE": bundle},
        "qwen": proxy | {"NODE_EXTRA_CA_CERTS": cert},
        "opencode": proxy | {"NODE_EXTRA_CA_CERTS": cert},
        "aider": proxy | {"SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle},
        "sdk": proxy | {"SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle,
                        "NODE_EXTRA_CA_CERTS": cert},
    }
    assert set(expected) == set(ca.CLIENTS)
    for client, env in expected.items():
        lines = ca.env_lines(confdir, port=8123, client=client)
        assert parse_env(lines) == env, client
        assert all(line.startswith(("export ", "# ")) for line in lines)  # safe to eval


def test_install_dry_run_only_prints(confdir, monkeypatch, capsys):
    def refuse(*a, **kw):
        raise AssertionError("dry run must not execute anything")

    monkeypatch.setattr(ca.subprocess, "run", refuse)
    monkeypatch.setattr(ca.platform, "system", lambda: "Linux")
    assert ca.main(["--dir", str(confdir), "install", "--dry-run"]) == 0
    assert ca.main(["--dir", str(confdir), "uninstall", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would run:" in out and "mitmproxy-ca-cert.pem" in out
    assert "update-ca-certificates" in out or "update-ca-trust" in out
    assert "rm -f" in out


def test_install_commands_on_macos(confdir, monkeypatch):
    monkeypatch.setattr(ca.platform, "system", lambda: "Darwin")
    add = ca.install_commands(confdir)
    assert add[0][:2] == ["security", "add-trusted-cert"] and "trustRoot" in add[0]
    remove = ca.install_commands(confdir, remove=True)
    fingerprint = ca.fingerprint(ca.load_cert(confdir))
    assert remove == [["security", "delete-certificate", "-Z", fingerprint,
                       "/Library/Keychains/System.keychain"]]


def test_cli_generate_and_env(tmp_path):
    run = [sys.executable, str(SCRIPT), "--dir", str(tmp_path)]
    out = subprocess.run(run + ["generate"], capture_output=True, text=True, check=True).stdout
    assert "generated" in out and "anthropic.com" in out
    out = subprocess.run(run + ["generate"], capture_output=True, text=True, check=True).stdout
    assert "kept existing" in out
    env = subprocess.run(run + ["env", "--port", "9090"], capture_output=True, text=True,
                         check=True).stdout
    assert "export HTTPS_PROXY=http://127.0.0.1:9090" in env
    codex = subprocess.run(run + ["env", "--client", "codex"], capture_output=True, text=True,
                           check=True).stdout
    assert "SSL_CERT_FILE=" in codex and "NODE_EXTRA_CA_CERTS" not in codex
    bad = subprocess.run(run + ["env", "--client", "cursor"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'cursor'" in bad.stderr


def test_env_on_a_team_members_machine_needs_the_certificate_alone(confdir, tmp_path):
    """A gateway's user gets its CA certificate, never its key: `ca.py --dir
    DIR env` there makes the bundle the Python clients need from it."""
    cert = (confdir / "mitmproxy-ca-cert.pem").read_bytes()
    (tmp_path / "mitmproxy-ca-cert.pem").write_bytes(cert)
    env = ["env", "--host", "gateway", "--user", "alice", "--client", "sdk"]
    out = subprocess.run([sys.executable, str(SCRIPT), "--dir", str(tmp_path), *env],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stderr == ""  # no "no CA ... yet"
    bundle = tmp_path / "ca-bundle.pem"
    assert f"export SSL_CERT_FILE={bundle}" in out.stdout
    assert bundle.read_bytes().endswith(cert)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca-bundle.pem", "mitmproxy-ca-cert.pem"]
    (tmp_path / "empty").mkdir()
    out = subprocess.run([sys.executable, str(SCRIPT), "--dir", str(tmp_path / "empty"), *env],
                         capture_output=True, text=True)  # fmt: skip
    assert "no CA in" in out.stderr


def test_env_lines_for_a_proxy_user_take_the_password_from_the_environment(confdir):
    """`ca.py env --user alice` for a team's gateway: the line names the user,
    the password comes from $OMNIROUTE_PROXY_PASSWORD when the shell runs it
    (never printed, never in the shell's history)."""
    lines = ca.env_lines(confdir, port=8080, host="gateway.example", client="sdk",
                         user="alice o'neil")
    assert all(line.startswith(("export ", "# ")) for line in lines)
    assert not any("pw-secret" in line for line in lines)
    script = "\n".join(lines) + '\nprintf %s "$HTTPS_PROXY"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                         env={"OMNIROUTE_PROXY_PASSWORD": "pw-secret", "PATH": "/usr/bin:/bin"})
    assert out.stdout == "http://alice%20o%27neil:pw-secret@gateway.example:8080"
