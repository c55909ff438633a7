"""The PNG beside docs/benchmarks.md: throughput and p99 latency of every row, as ratios show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no screen: render to a file
import matplotlib.pyplot as plt

from benchmarks.report import DOC_PATH, load_results

PLOT_PATH = DOC_PATH.parent / "benchmarks.png"


def _label(row: dict[str, Any]) -> str:
    case = str(row["case"])
    case = case if len(case) <= 48 else case[:45] + "..."
    return f"{row['backend']}: {case}"


def write_plot(path: Path = PLOT_PATH) -> Path:
    """One pair of panels per scenario: ops/s (baselines hatched) and p99 ms."""
    results = load_results()
    figure, axes = plt.subplots(
        len(results),
        2,
        figsize=(16, 2.2 + 0.45 * sum(len(r["rows"]) for r in results)),
        squeeze=False,
        gridspec_kw={"height_ratios": [max(2, len(r["rows"])) for r in results]},
    )
    for (rate, latency), result in zip(axes, results, strict=True):
        rows = result["rows"]
        labels = [_label(row) for row in rows]
        hatches = ["//" if row.get("is_baseline") else "" for row in rows]
        bars = rate.barh(labels, [row["ops_per_s"] for row in rows], color="#4c72b0")
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch)
        rate.invert_yaxis()
        rate.set_title(f"{result['scenario']}: ops/s (hatched: baseline)", fontsize=9)
        rate.tick_params(labelsize=7)
        latency.barh(labels, [row["p99_ms"] for row in rows], color="#dd8452")
        latency.invert_yaxis()
        latency.set_yticklabels([])
        latency.set_title("p99 latency, ms", fontsize=9)
        latency.tick_params(labelsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
