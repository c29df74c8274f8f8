"""Sample the peak RSS of every process under a root pid until killed; print the per-process peak (MB)."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from proc_tree import children, rss_one


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
                peaks[pid] = max(peaks.get(pid, 0.0), rss_one(pid))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.5)
    out.write_text(json.dumps({str(k): round(v, 1) for k, v in peaks.items()}))


if __name__ == "__main__":
    main()
