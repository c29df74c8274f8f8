"""What the bench steps read from `wrk --latency`: req/s, p50/p99 in ms, non-2xx; and medians of runs."""

from __future__ import annotations

import re
import statistics

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse(text: str) -> dict[str, float]:
    """{"rps", "p50_ms", "p99_ms", "non2xx"} from wrk's output (with --latency)."""

    def ms(pct: str) -> float:
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])  # type: ignore[index]
    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "non2xx": int(non2xx[1]) if non2xx else 0}


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 2) for key in runs[0]}
