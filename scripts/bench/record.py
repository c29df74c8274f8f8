"""Append a `make bench` comparison table to docs/benchmarks.md, with the date and the machine."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, {platform.system()} {platform.release()}"


def main() -> None:
    table, doc, params = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    if not doc.exists():
        doc.write_text("# Benchmarks\n\nResults of `make bench` (newest last).\n")
    entry = (
        f"\n## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Machine: {machine()}; Python {platform.python_version()}.\n"
        f"Parameters: {params}.\n\n```\n{table.read_text().rstrip()}\n```\n"
    )
    with doc.open("a") as out:
        out.write(entry)


if __name__ == "__main__":
    main()
