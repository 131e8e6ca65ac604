"""A TLS scanner (sslyze, through its Python API) against a real `echo` serving TLS with a leaf from
a throwaway CA: legacy protocols refused, TLS 1.2 and 1.3 accepted, every accepted suite forward
secret and AEAD, no compression, secure renegotiation only.

`tls_findings` is the whole verdict; it is also run on scans of deliberately weak `openssl s_server`s,
so a check that could never fail would show there. The scan's summary is written to
<test output>/tls-scan-{ec,rsa}.txt; docs/security.md quotes it.
"""
from __future__ import annotations

import socket
import ssl
import subprocess
import urllib.request

import pytest
import sslyze
from sslyze import (
    Scanner,
    ScanCommand,
    ScanCommandAttemptStatusEnum,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)

from sslyze.__version__ import __version__ as SSLYZE_VERSION

from conftest import OUTPUT_DIR, free_port, wait_for
from tlsca import TestCA

PROTOCOLS = [  # (label, attribute of the scan result, accepted by a sound server?)
    ("SSL 2.0", "ssl_2_0_cipher_suites", False),
    ("SSL 3.0", "ssl_3_0_cipher_suites", False),
    ("TLS 1.0", "tls_1_0_cipher_suites", False),
    ("TLS 1.1", "tls_1_1_cipher_suites", False),
    ("TLS 1.2", "tls_1_2_cipher_suites", True),
    ("TLS 1.3", "tls_1_3_cipher_suites", True),
]
CHECKS = [("TLS compression", "tls_compression"), ("Renegotiation", "session_renegotiation"),
          ("Heartbleed", "heartbleed"), ("CCS injection", "openssl_ccs_injection")]
REPORTED = [("Fallback SCSV", "tls_fallback_scsv"), ("Elliptic curves", "elliptic_curves"),
            ("Extended master secret", "tls_extended_master_secret"), ("Session resumption", "session_resumption")]
SCAN_COMMANDS = {ScanCommand(attribute) for _, attribute, _ in PROTOCOLS} | {
    ScanCommand(attribute) for _, attribute in CHECKS + REPORTED}

# Names (RFC spelling, as sslyze gives them) of what must never be accepted. TLS 1.3 suites carry no
# key exchange in their name: they are all ephemeral (EC)DHE and AEAD by the protocol.
TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_CCM_SHA256"}
WEAK_CIPHERS = ("_CBC_", "RC4", "3DES", "_DES_", "NULL", "EXPORT", "_anon_", "IDEA", "SEED", "RC2")
AEAD_CIPHERS = ("_GCM_", "_CHACHA20_POLY1305_", "_CCM")


def scan(port: int, hostname="localhost", connections=None) -> sslyze.ServerScanResult:
    """A full sslyze scan of 127.0.0.1:port, presenting `hostname` as SNI."""
    location = ServerNetworkLocation(hostname=hostname, port=port, ip_address="127.0.0.1")
    scanner = Scanner(per_server_concurrent_connections_limit=connections)
    scanner.queue_scans([ServerScanRequest(server_location=location, scan_commands=SCAN_COMMANDS)])
    (result,) = list(scanner.get_results())
    assert result.scan_status == ServerScanStatusEnum.COMPLETED, \
        f"sslyze could not reach {hostname}:{port}: {result.connectivity_error_trace}"
    return result


def _result(scan_result, attribute, findings):
    attempt = getattr(scan_result.scan_result, attribute)
    if attempt.status != ScanCommandAttemptStatusEnum.COMPLETED:
        findings.append(f"{attribute}: the scanner could not tell ({attempt.error_reason}: {attempt.error_trace})")
        return None
    return attempt.result


def suite_problems(name: str, ephemeral_key) -> list[str]:
    """Why a suite accepted by the server is weak (nothing for a sound one)."""
    if name in TLS13_SUITES:
        return []
    problems = []
    if not (name.startswith("TLS_ECDHE_") or name.startswith("TLS_DHE_")) or "_anon_" in name:
        problems.append("not forward secret")
    if not any(mark in name for mark in AEAD_CIPHERS) or any(mark in name for mark in WEAK_CIPHERS):
        problems.append("not AEAD")
    if name.startswith("TLS_DHE_") and ephemeral_key is not None and ephemeral_key.size < 2048:
        problems.append(f"DH group of {ephemeral_key.size} bits")
    return problems


def tls_findings(scan_result) -> list[str]:
    """Every way this scan shows a server below Echo's bar; an empty list is a pass."""
    findings: list[str] = []
    for label, attribute, wanted in PROTOCOLS:
        result = _result(scan_result, attribute, findings)
        if result is None:
            continue
        accepted = result.accepted_cipher_suites
        if accepted and not wanted:
            findings.append(f"{label} accepted ({len(accepted)} suites)")
        if wanted and not accepted:
            findings.append(f"{label} not accepted")
        for suite in accepted:
            for problem in suite_problems(suite.cipher_suite.name, suite.ephemeral_key):
                findings.append(f"{label} {suite.cipher_suite.name}: {problem}")
    compression = _result(scan_result, "tls_compression", findings)
    if compression is not None and compression.supports_compression:
        findings.append("TLS compression supported (CRIME)")
    renegotiation = _result(scan_result, "session_renegotiation", findings)
    if renegotiation is not None:
        if not renegotiation.supports_secure_renegotiation:
            findings.append("secure renegotiation not supported")
        if renegotiation.is_vulnerable_to_client_renegotiation_dos:
            findings.append("client-initiated renegotiation accepted "
                            f"({renegotiation.client_renegotiations_success_count} in a row)")
    heartbleed = _result(scan_result, "heartbleed", findings)
    if heartbleed is not None and heartbleed.is_vulnerable_to_heartbleed:
        findings.append("vulnerable to Heartbleed")
    ccs = _result(scan_result, "openssl_ccs_injection", findings)
    if ccs is not None and ccs.is_vulnerable_to_ccs_injection:
        findings.append("vulnerable to the OpenSSL CCS injection")
    return findings


def _key_exchange(suite) -> str:
    key = suite.ephemeral_key
    if key is None:
        return ""
    curve = getattr(key, "curve_name", None)
    return f" ({curve or key.type_name} {key.size} bits)"


def scan_summary(scan_result, findings: list[str]) -> str:
    """The scan in a few lines of text, for docs/security.md."""
    lines = [f"sslyze {SSLYZE_VERSION} against {scan_result.server_location.display_string}"]
    for label, attribute, _ in PROTOCOLS:
        attempt = getattr(scan_result.scan_result, attribute)
        if attempt.status != ScanCommandAttemptStatusEnum.COMPLETED:
            lines.append(f"{label:<8} scan failed")
            continue
        accepted = attempt.result.accepted_cipher_suites
        lines.append(f"{label:<8} {'accepted' if accepted else 'refused'}")
        lines.extend(f"           {s.cipher_suite.name}{_key_exchange(s)}" for s in accepted)
    result = scan_result.scan_result

    def completed(attribute):
        attempt = getattr(result, attribute)
        return attempt.result if attempt.status == ScanCommandAttemptStatusEnum.COMPLETED else None

    if compression := completed("tls_compression"):
        lines.append(f"Compression: {'SUPPORTED' if compression.supports_compression else 'not supported'}")
    if renegotiation := completed("session_renegotiation"):
        lines.append(f"Secure renegotiation: {'supported' if renegotiation.supports_secure_renegotiation else 'NOT SUPPORTED'}; "
                     f"client-initiated renegotiation: {'ACCEPTED' if renegotiation.is_vulnerable_to_client_renegotiation_dos else 'refused'}")
    if heartbleed := completed("heartbleed"):
        lines.append(f"Heartbleed: {'VULNERABLE' if heartbleed.is_vulnerable_to_heartbleed else 'not vulnerable'}")
    if ccs := completed("openssl_ccs_injection"):
        lines.append(f"CCS injection: {'VULNERABLE' if ccs.is_vulnerable_to_ccs_injection else 'not vulnerable'}")
    if fallback := completed("tls_fallback_scsv"):
        lines.append(f"Downgrade protection (TLS_FALLBACK_SCSV): {'supported' if fallback.supports_fallback_scsv else 'not supported'}")
    if curves := completed("elliptic_curves"):
        names = ", ".join(c.name for c in curves.supported_curves or [])
        lines.append(f"Key exchange groups: {names or 'none'}")
    if ems := completed("tls_extended_master_secret"):
        lines.append(f"Extended master secret: {'supported' if ems.supports_ems_extension else 'not supported'}")
    if resumption := completed("session_resumption"):
        lines.append(f"Resumption (TLS 1.2): session IDs {resumption.session_id_resumption_result.name.lower()}, "
                     f"tickets {resumption.tls_ticket_resumption_result.name.lower()}")
    lines.append("Findings: " + ("none" if not findings else "; ".join(findings)))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Peers


def https_status(port: int, context: ssl.SSLContext, path="/health") -> int:
    request = urllib.request.Request(f"https://localhost:{port}{path}")
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture
def test_ca(tmp_path):
    return TestCA(tmp_path / "ca")


@pytest.fixture(params=["ec", "rsa"])
def tls_echo(request, start_echo, test_ca):
    """`echo` with two workers serving only TLS on its port, with a leaf of the test CA: P-256
    (ECDSA suites) or RSA 2048 (ECDHE-RSA suites, and the static-RSA ones a server must refuse)."""
    leaf = test_ca.issue("localhost", serial=0x5CA1, key_type=request.param)
    echo = start_echo(workers=2, wait=False, ECHO_TLS_CERT=str(leaf.chain), ECHO_TLS_KEY=str(leaf.key))

    def healthy():
        assert echo.proc.poll() is None, f"echo exited with {echo.proc.returncode}:\n{echo.logs()}"
        return https_status(echo.port, test_ca.context()) == 200
    wait_for(healthy, timeout=30, what="echo's /health over https")
    return echo


@pytest.fixture
def weak_server(test_ca):
    """Starts `openssl s_server` with the given options on a free port and an RSA leaf (RSA key
    exchange needs one): weak_server("-tls1", "-cipher", "ALL:@SECLEVEL=0")."""
    started: list[subprocess.Popen] = []

    def start(*options) -> int:
        leaf = test_ca.issue("localhost", serial=0xBAD0 + len(started), key_type="rsa")
        port = free_port()
        # -www answers each connection on its own without reading stdin.
        server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(leaf.cert),
                                   "-key", str(leaf.key), "-www", "-quiet", *options],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(server)

        def listening():
            assert server.poll() is None, f"openssl s_server exited: {server.stderr.read().decode()}"
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        wait_for(listening, what="openssl s_server")
        return port

    yield start
    for server in started:
        server.terminate()
        server.wait(5)


# ------------------------------------------------------------------------------------------------
# Tests


def test_scanner_finds_nothing_weak_in_echo(request, tls_echo):
    result = scan(tls_echo.port)
    findings = tls_findings(result)
    summary = scan_summary(result, findings)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    key = request.node.callspec.params["tls_echo"]
    (OUTPUT_DIR / f"tls-scan-{key}.txt").write_text(summary)
    assert findings == [], summary
    tls12 = result.scan_result.tls_1_2_cipher_suites.result.accepted_cipher_suites
    assert all(s.ephemeral_key is not None for s in tls12), "every TLS 1.2 suite must show its ephemeral key"


@pytest.mark.parametrize("options, expected", [
    # The brief's weakest: TLS 1.0 only, every cipher OpenSSL still has, client renegotiation on.
    (("-tls1", "-cipher", "ALL:@SECLEVEL=0", "-client_renegotiation"),
     ["TLS 1.0 accepted", "TLS 1.2 not accepted", "TLS 1.3 not accepted", "not forward secret", "not AEAD",
      "client-initiated renegotiation accepted"]),
    # TLS 1.2 is there, but with static-RSA and CBC suites next to the good ones.
    (("-no_tls1_3", "-cipher", "ALL:@SECLEVEL=0"),
     ["TLS 1.0 accepted", "TLS 1.1 accepted", "TLS 1.3 not accepted", "TLS 1.2 TLS_RSA_WITH_AES_128_CBC_SHA: not forward secret",
      "TLS 1.2 TLS_RSA_WITH_AES_128_CBC_SHA: not AEAD", "TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: not AEAD"]),
], ids=["tls1-all-ciphers", "tls12-with-cbc-and-rsa"])
def test_findings_catch_a_weak_server(weak_server, options, expected):
    """The verdict Echo must pass, on servers that must fail it: each expected finding is there."""
    port = weak_server(*options)
    # s_server answers one connection at a time: one scanner connection at a time, so none waits
    # in the backlog long enough to time out on a busy machine.
    findings = tls_findings(scan(port, connections=1))
    unknown = [f for f in findings if "could not tell" in f]
    assert not unknown, "\n".join(unknown)
    missing = [e for e in expected if not any(e in f for f in findings)]
    assert not missing, f"expected findings {missing} not in:\n" + "\n".join(findings)
