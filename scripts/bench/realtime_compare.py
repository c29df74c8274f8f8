"""W6's table: every realtime step of a `make bench` run, PocketBase and backstack side by side.

Reads the run folder's `rt-<target>-<step>.json` files (one JSON line each, written by
../shared/bench/pb_realtime_bench.py or realtime_bench.py: the same fields) and prints one row per step and
target, steps in the order given, then what each target's last row missed.
Usage: realtime_compare.py RUN_DIR STEP [STEP...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = (
    ("step", 10),
    ("target", 18),
    ("subs", 5),
    ("rows/s", 6),
    ("delivered/expected", 19),
    ("p50ms", 7),
    ("p99ms", 7),
    ("maxms", 7),
    ("fanout99", 8),
    ("insert50", 8),
    ("srvCPU%", 7),
    ("RSS MB", 13),
    ("cliCPU%", 7),
    ("leaked", 6),
)


def _num(value: Any, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _row(step: str, target: str, r: dict[str, Any]) -> list[str]:
    delivered = f"{r.get('delivered_events', 0)}/{r.get('expected_events', 0)}"
    if r.get("subscribe_failures"):
        delivered += f" ({r['subscribe_failures']} unsub)"
    peak = r.get("rss_peak_sampled_mb") or r.get("rss_peak_after_mb")  # PocketBase's script samples only after
    rss = f"{_num(r.get('rss_connected_mb'), '{:.0f}')}/{_num(peak, '{:.0f}')}"
    return [
        step,
        target,
        str(r.get("subscribed", "-")),
        _num(r.get("rate"), "{:.0f}"),
        delivered,
        _num(r.get("event_p50_ms")),
        _num(r.get("event_p99_ms")),
        _num(r.get("event_max_ms"), "{:.0f}"),
        _num(r.get("fanout_complete_p99_ms")),
        _num(r.get("create_p50_ms")),
        _num(r.get("server_cpu_pct_during_publish"), "{:.0f}"),
        rss,
        _num(r.get("client_cpu_pct_during_publish"), "{:.0f}"),
        _num(r.get("leaked_events"), "{}"),
    ]


def _line(cells: list[str]) -> str:
    return " ".join(
        cell.rjust(width) if i > 1 else cell.ljust(width)
        for i, ((_, width), cell) in enumerate(zip(COLUMNS, cells, strict=True))
    )


def main() -> None:
    run, steps = Path(sys.argv[1]), sys.argv[2:]
    found = sorted(run.glob("rt-*.json"))
    targets = sorted({path.stem[3:].rsplit("-", 1)[0] for path in found}, key=lambda t: (t != "pocketbase", t))
    print("W6 realtime: rows inserted -> subscribers; latency = receive - insert sent; RSS MB once connected /")
    print("peak (backstack: the whole process tree, sampled; PocketBase's script reads it once, after the run)")
    print(_line([name for name, _ in COLUMNS]))
    notes = []
    for step in steps:
        for target in targets:
            path = run / f"rt-{target}-{step}.json"
            if not path.exists():
                continue
            lines = path.read_text().splitlines()
            result = json.loads(lines[-1]) if lines else {}
            print(_line(_row(step, target, result)))
            for key in ("subscribe_error_sample", "create_error_sample", "skipped"):
                if result.get(key):
                    notes.append(f"{target} {step}: {key} {result[key]}")
            if "private_expected" in result:
                owned = f"{result['private_delivered']}/{result['private_expected']}"
                notes.append(
                    f"{target} {step}: private rows {result['private_rows']}, delivered to their owner's "
                    f"subscribers {owned}, leaked to others {result['leaked_events']}"
                )
    for note in notes:
        print(note)
    load = run / "rt-load.txt"
    if load.exists():  # other work on the machine inflates every figure: say how busy it was
        print("load average (1, 5, 15 min) before each step: " + "; ".join(load.read_text().splitlines()))


if __name__ == "__main__":
    main()
