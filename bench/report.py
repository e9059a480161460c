"""The benchmarks' one output format: a table of (what, measured, ratio) rows."""

from __future__ import annotations

import statistics


def print_table(title: str, rows: list[tuple[str, str, str]], measured_width: int = 28) -> None:
    width = max(len(row[0]) for row in rows)
    print(f"{title:<{width}}  {'measured':<{measured_width}}  ratio")
    for name, measured, ratio in rows:
        print(f"{name:<{width}}  {measured:<{measured_width}}  {ratio}")


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """``median (min-max)`` of a benchmark's rounds."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} ({fmt.format(low)}-{fmt.format(high)})"
