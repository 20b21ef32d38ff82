"""Shared benchmark plumbing: the machine, percentiles, and benchmarks/results.json."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "speed_ms": speed_ms(),
    }


def speed_ms() -> float:
    """A fixed CPU-bound loop, best of 3: this shared machine's speed drifts by up to 2x
    over a day, so every result carries it (lower is faster; about 60-100 ms here)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sum(range(5_000_000))
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 1)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[94] if len(samples) > 1 else samples[0]


def row(
    name: str, db: str, value: float, unit: str, goal: float, *, higher_is_better: bool = False
) -> dict[str, Any]:
    met = value >= goal if higher_is_better else value <= goal
    return {
        "name": name,
        "db": db,
        "value": round(value, 3),
        "unit": unit,
        "goal": goal,
        "met": met,
    }


def record(rows: list[dict[str, Any]], out: Path = RESULTS) -> None:
    """Merge rows into the results file (replacing same name + db) and print them."""
    existing = json.loads(out.read_text()) if out.exists() else []
    keys = {(r["name"], r["db"]) for r in rows}
    kept = [r for r in existing if "name" in r and (r["name"], r["db"]) not in keys]
    out.write_text(json.dumps([*kept, *rows, {"machine": machine()}], indent=2) + "\n")
    print(f"machine: {machine()}")
    for r in rows:
        status = "met" if r["met"] else "MISSED"
        figure = f"{r['value']:>10.3f} {r['unit']}"
        print(f"{r['name']:34} {r['db']:10} {figure}  goal {r['goal']}  {status}")
