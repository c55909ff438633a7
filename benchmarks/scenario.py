"""What a scenario is (a named function) and what it hands back (rows against baselines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.context import BenchContext
from benchmarks.timing import Measurement


@dataclass
class Outcome:
    """A scenario's parameters, its baseline rows and the rows measured against them."""

    parameters: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    _baselines: dict[str, float] = field(default_factory=dict, repr=False)

    def add_baseline(
        self, key: str, backend: str, case: str, measured: Measurement, **fields: Any
    ) -> None:
        """A row the others are divided by; its `key` names it in their `baseline` field."""
        self._baselines[key] = measured.ops_per_second
        self._add(backend, case, measured, key, is_baseline=True, fields=fields)

    def add(
        self, backend: str, case: str, measured: Measurement, baseline: str, **fields: Any
    ) -> None:
        """A measured row, with its ratio to the baseline `baseline` (added before it)."""
        self._add(backend, case, measured, baseline, is_baseline=False, fields=fields)

    def _add(
        self,
        backend: str,
        case: str,
        measured: Measurement,
        baseline: str,
        *,
        is_baseline: bool,
        fields: dict[str, Any],
    ) -> None:
        reference = self._baselines[baseline]
        ratio = measured.ops_per_second / reference if reference else None
        self.rows.append(
            {
                "backend": backend,
                "case": case,
                "is_baseline": is_baseline,
                "baseline": baseline,
                "ratio": None if ratio is None else round(ratio, 3),
                **measured.summary(),
                **fields,
            }
        )


@dataclass(frozen=True)
class Scenario:
    """A benchmark: `run` measures, the texts explain it in docs/benchmarks.md."""

    name: str
    title: str
    about: str  # what is measured, one paragraph of Markdown
    notes: str  # what the figures mean, Markdown
    run: Callable[[BenchContext], Outcome]
