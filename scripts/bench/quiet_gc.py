"""Run a W6 client script with Python's cyclic garbage collector off: `quiet_gc.py SCRIPT ARGS...`.

Why: both realtime clients (PocketBase's pb_realtime_bench.py, unchanged, and realtime_bench.py) read
tens of thousands of events a second in one Python process on the same cores as the server; a full
collection over their connections' objects pauses the client for 30-50 ms every few seconds, and each
pause lands in the latency of the events that were arriving (measured: the stress step's p99 on SQLite
14.0 ms with the collector on, 9.9 ms off, the same server). Reference counting still frees everything
the scripts drop; the runs are short. Both clients run under this wrapper, so neither pays for it.
"""

from __future__ import annotations

import gc
import runpy
import sys

if __name__ == "__main__":
    gc.disable()
    script, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
