"""Sample the peak RSS of every process under a root pid until killed; print the per-process peak (MB)."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        kids = (task / "children").read_text().split() if (task / "children").exists() else []
        for kid in kids:
            out.extend(children(int(kid)))
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    root, out = int(sys.argv[1]), Path(sys.argv[2])
    peaks: dict[int, float] = {}
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        try:
            for pid in children(root):
                peaks[pid] = max(peaks.get(pid, 0.0), rss_mb(pid))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.5)
    out.write_text(json.dumps({str(k): round(v, 1) for k, v in peaks.items()}))


if __name__ == "__main__":
    main()
