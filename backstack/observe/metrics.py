"""Prometheus metrics: requests by route template and status, latency, and the database pool.

Each app has its own registry (two apps in one process share nothing). With several server workers
`backstack serve` sets PROMETHEUS_MULTIPROC_DIR before the workers start; prometheus-client then keeps
the request counters in shared files and `/metrics` reports the sum over all workers. The database
gauges come from `engine.health()` of the worker answering the scrape (labelled with its pid).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from backstack.db.engine import Engine

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_NAME = re.compile(r"[^a-zA-Z0-9_]")


def multiprocess_mode() -> bool:
    """True when prometheus-client was loaded with PROMETHEUS_MULTIPROC_DIR (several workers)."""
    return values.ValueClass is not values.MutexValue


class Metrics:
    """The app's request metrics; `observe` is called once per request (observe/recorder.py)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "backstack_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "backstack_http_request_duration_seconds",
            "Time from request to the last response byte, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        if not multiprocess_mode():
            ProcessCollector(registry=self.registry)
        # labels() takes a lock and builds a key each time; the children are cached here instead.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[(method, route, status)] = self.requests.labels(method, route, str(status))
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[(method, route)] = self.latency.labels(method, route)
        histogram.observe(seconds)

    async def exposition(self, engine: Engine, sections: dict[str, dict[str, Any]] | None = None) -> bytes:
        """The Prometheus text for a scrape: request metrics (all workers), this worker's pool and the
        numbers of the other services' health `sections` (`backstack_<section>_<name>`, by pid)."""
        if multiprocess_mode():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        database = CollectorRegistry()
        database.register(_DatabaseCollector(await engine.health()))
        for name, section in (sections or {}).items():
            database.register(_SectionCollector(name, section))
        return generate_latest(registry) + generate_latest(database)


class _DatabaseCollector:
    """`backstack_db_up` and one gauge per number in `engine.health()` (pool size, in use, ...)."""

    def __init__(self, health: dict[str, Any]) -> None:
        self.health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pid = str(os.getpid())
        up = GaugeMetricFamily("backstack_db_up", "1 when the database answers.", labels=["pid"])
        up.add_metric([pid], 1.0 if self.health.get("status") == "ok" else 0.0)
        yield up
        for name, value in _numbers(self.health):
            gauge = GaugeMetricFamily(f"backstack_db_{name}", f"Database {name} (engine.health()).", labels=["pid"])
            gauge.add_metric([pid], value)
            yield gauge


class _SectionCollector:
    """One gauge per number of a service's health section (`backstack_realtime_connections`, ...)."""

    def __init__(self, name: str, section: dict[str, Any]) -> None:
        self.name = _NAME.sub("_", name)
        self.section = section

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pid = str(os.getpid())
        for key, value in _numbers(self.section):
            gauge = GaugeMetricFamily(f"backstack_{self.name}_{key}", f"{self.name} {key} (/health).", labels=["pid"])
            gauge.add_metric([pid], value)
            yield gauge


def _numbers(health: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in health.items():
        name = _NAME.sub("_", f"{prefix}{key}")
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            yield name, float(value)
        elif isinstance(value, dict) and not prefix:
            yield from _numbers(value, f"{name}_")
