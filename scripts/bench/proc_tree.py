"""CPU and RSS of a server's whole process tree: `backstack serve` runs a main process and its workers,
and sampling only the root would miss where the work happens."""

from __future__ import annotations

import os
from pathlib import Path


def children(pid: int) -> list[int]:
    """`pid` and every descendant alive now."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        kids = (task / "children").read_text().split() if (task / "children").exists() else []
        for kid in kids:
            out.extend(children(int(kid)))
    return out


def rss_one(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_one(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(root: int | None) -> float | None:
    """Resident memory of the tree under `root`, in MB (None without a pid)."""
    if not root:
        return None
    total = 0.0
    for pid in children(root):
        try:
            total += rss_one(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return round(total, 1)


def cpu_seconds(root: int | None) -> float:
    """User + system CPU seconds of the processes of the tree alive now (0 without a pid)."""
    if not root:
        return 0.0
    total = 0.0
    for pid in children(root):
        try:
            total += _cpu_one(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total
