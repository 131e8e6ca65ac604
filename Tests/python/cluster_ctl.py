"""Starts or stops a Redis Cluster for `make test` (scripts/test.sh), which runs the protocol
suite against it as well as against one redis-server.

    python cluster_ctl.py start DIR   # prints the redis+cluster:// URL; the nodes keep running
    python cluster_ctl.py stop DIR    # stops them and removes DIR's files
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from conftest import RedisCluster


def main() -> None:
    command, state = sys.argv[1], Path(sys.argv[2])
    pids = state / "pids"
    if command == "start":
        cluster = RedisCluster(directory=str(state)).start()
        pids.write_text("\n".join(str(p.pid) for p in cluster.procs.values()))
        print(cluster.url)
    elif command == "stop":
        if pids.exists():
            for pid in pids.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
