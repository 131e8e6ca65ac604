"""systemd/echo.service, echo.socket and echo.env: systemd accepts them, the sandbox scores well,
and `echo` runs with the example environment file."""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import BIN_DIR, EchoProcess, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
INSTALLED_BINARY = "/usr/local/bin/echo"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


def unit_copy(tmp_path: Path, name: str) -> Path:
    """The unit with ExecStart/ExecReload pointing at the built binary: `verify` checks that the
    executable exists, and /usr/local/bin/echo is there only after `make install`."""
    text = (UNITS / name).read_text()
    assert INSTALLED_BINARY in text or name != "echo.service"
    copy = tmp_path / name
    copy.write_text(text.replace(INSTALLED_BINARY, str((BIN_DIR / "echo").resolve())))
    return copy


def directives(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_verify_prints_nothing(tmp_path):
    service = unit_copy(tmp_path, "echo.service")
    socket_unit = unit_copy(tmp_path, "echo.socket")
    # verify exits 0 even on unknown keys: any output at all is a failure.
    result = subprocess.run(["systemd-analyze", "verify", str(service), str(socket_unit)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.stdout + result.stderr == ""
    assert result.returncode == 0


def test_verify_catches_a_bad_key(tmp_path):
    """The check above can fail: a misspelt directive produces output."""
    service = unit_copy(tmp_path, "echo.service")
    service.write_text(service.read_text().replace("KillMode=mixed", "KillMode=mixed\nKilMode=mixed"))
    result = subprocess.run(["systemd-analyze", "verify", str(service)], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert "KilMode" in result.stdout + result.stderr


def test_security_exposure_is_2_or_better():
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNITS / "echo.service")],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for echo\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout[-3000:]


def test_service_has_the_required_directives():
    d = directives("echo.service")
    expected = {
        "Type": "notify", "NotifyAccess": "main", "KillMode": "mixed", "Restart": "on-failure",
        "DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
        "RuntimeDirectory": "echo", "StateDirectory": "echo", "RestartPreventExitStatus": "78",
        # libdispatch renices its threads by QoS, down to -4 (docs/operations.md, systemd).
        "LimitNICE": "-4", "TimeoutAbortSec": "5", "CapabilityBoundingSet": "",
    }
    for key, value in expected.items():
        assert d.get(key) == [value], f"{key}: {d.get(key)}"
    for key in ("WatchdogSec", "ExecReload", "LimitNOFILE", "RestrictAddressFamilies", "EnvironmentFile"):
        assert key in d, key
    assert "@system-service" in d["SystemCallFilter"]
    assert d["ExecReload"][0].startswith(INSTALLED_BINARY + " reload")
    s = directives("echo.socket")
    assert s.get("ReusePort") == ["yes"] and s.get("Backlog") == ["4096"]


def test_echo_runs_with_the_example_environment_file(redis_server):
    port = free_port()
    # Flags beat the file: the test's port, loopback and Redis; everything else from echo.env.
    echo = EchoProcess("echo", port, {}, ["--env-file", str(UNITS / "echo.env"), "--port", str(port),
                                          "--host", "127.0.0.1", "--redis-url", redis_server.url,
                                          "--workers", "1"], "echo-envfile")
    try:
        echo.wait_healthy()
    finally:
        echo.signal(signal.SIGTERM)
        assert echo.proc.wait(15) == 0, echo.logs()
        echo.log.close()


def test_the_load_credential_example_is_valid_and_matches_echo_env(tmp_path):
    """The unit's commented `LoadCredential=` line works once uncommented, and the credential it
    names is the one echo.env's `ECHO_TLS_KEY=%d/NAME` example reads."""
    text = (UNITS / "echo.service").read_text()
    examples = re.findall(r"^#(LoadCredential=([\w.-]+):(/\S+))$", text, re.MULTILINE)
    assert len(examples) == 1, examples
    line, name, source = examples[0]
    assert source.startswith("/etc/")
    env_keys = re.findall(r"^#ECHO_TLS_KEY=%d/(\S+)$", (UNITS / "echo.env").read_text(), re.MULTILINE)
    assert env_keys == [name]

    service = unit_copy(tmp_path, "echo.service")
    service.write_text(service.read_text().replace("#" + line, line))
    result = subprocess.run(["systemd-analyze", "verify", str(service)], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.stdout + result.stderr == ""
    assert result.returncode == 0
