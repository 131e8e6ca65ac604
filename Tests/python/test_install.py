"""`make install` (README, "Running in production"): the installed binaries run from anywhere and
carry their web client, and the units point at the installed paths."""
from __future__ import annotations

import os
import subprocess

from conftest import ROOT, free_port, http_get, wait_for


def test_make_install_lays_out_binaries_web_client_and_units(tmp_path, redis_server):
    dest = tmp_path / "root"
    subprocess.run(["make", "-C", str(ROOT), "install", "CONFIG=debug", f"DESTDIR={dest}", "PREFIX=/usr"],
                   check=True, capture_output=True, timeout=600)
    for binary in ("echo", "echo-worker"):
        assert os.access(dest / "usr/bin" / binary, os.X_OK)
    assert (dest / "usr/share/echo/web/index.html").is_file()
    assert (dest / "usr/share/doc/echo/operations.md").is_file()
    assert (dest / "etc/echo/echo.env").is_file()
    unit = (dest / "etc/systemd/system/echo.service").read_text()
    assert "ExecStart=/usr/bin/echo serve" in unit and "/usr/local" not in unit

    # The installed echo, started outside the repository, finds its worker beside it and the web
    # client under ../share/echo/web.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ECHO_WEB_ROOT"}
    env.update(PORT=str(port), HOST="127.0.0.1", REDIS_URL=redis_server.url)
    proc = subprocess.Popen([str(dest / "usr/bin/echo"), "--workers", "1"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200, timeout=20,
                 what="installed echo healthy")
        status, headers, body = http_get(f"http://127.0.0.1:{port}/")
        assert status == 200 and headers["Content-Type"].startswith("text/html") and b"/v/" in body
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
