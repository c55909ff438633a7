"""Run the benchmarks: `python -m benchmarks.run [--duration SECONDS] [--only NAME]`.

Each scenario runs in a fresh sandbox (its own PostgreSQL database and temp dir), writes
benchmarks/results/<scenario>.json, and the run ends by regenerating docs/benchmarks.md from
every results file present. To add a scenario, write a module with a `Scenario` and register
it in SCENARIOS below.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from benchmarks import audit_replay, ledger_inprocess, login_http, oauth_http, recovery, spend_http
from benchmarks.context import DEFAULT_ADMIN_URL, bench_context, describe_machine
from benchmarks.plot import write_plot
from benchmarks.report import RESULTS_DIR, write_doc
from benchmarks.scenario import Scenario

log = logging.getLogger("benchmarks")

# Name -> scenario, in the order a full run goes through them.
SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        ledger_inprocess.SCENARIO,
        login_http.SCENARIO,
        audit_replay.SCENARIO,
        oauth_http.SCENARIO,
        spend_http.SCENARIO,
        recovery.SCENARIO,
    )
}
DEFAULT_DURATION = 10.0  # seconds per measurement: a full run stays well under 5 minutes
COMMAND = ".venv/bin/python -m benchmarks.run"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _exit_on_signal)  # so a killed run still drops its database
    failed: list[str] = []
    if not args.report_only:
        names = args.only or list(SCENARIOS)
        failed = [name for name in names if not _run_one(SCENARIOS[name], args)]
    doc = write_doc({name: scenario.notes for name, scenario in SCENARIOS.items()})
    log.info("wrote %s and %s", doc, write_plot())
    if failed:
        log.error("failed: %s", ", ".join(failed))
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        metavar="SECONDS",
        help=f"length of each measurement (default {DEFAULT_DURATION:g})",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_ADMIN_URL,
        help="server to create the bench database on (default: %(default)s)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="only regenerate docs/benchmarks.md from the results present",
    )
    return parser


def _run_one(scenario: Scenario, args: argparse.Namespace) -> bool:
    """Measure one scenario and write its results file; False when it failed."""
    log.info("%s: %s", scenario.name, scenario.title)
    began = time.monotonic()
    try:
        machine = describe_machine(args.postgres_url)
        with bench_context(args.postgres_url, args.duration) as ctx:
            outcome = scenario.run(ctx)
    except Exception:
        log.exception("%s failed; its previous results, if any, are kept", scenario.name)
        return False
    result = {
        "scenario": scenario.name,
        "title": scenario.title,
        "about": scenario.about,
        "notes": scenario.notes,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command(scenario.name, args.duration),
        "elapsed_s": round(time.monotonic() - began, 1),
        "machine": machine,
        "parameters": outcome.parameters,
        "details": outcome.details,
        "rows": outcome.rows,
    }
    path = _write_result(scenario.name, result)
    log.info("%s: done in %.0f s, wrote %s", scenario.name, result["elapsed_s"], path)
    return True


def _command(name: str, duration: float) -> str:
    command = f"{COMMAND} --only {name}"
    if duration != DEFAULT_DURATION:
        command += f" --duration {duration:g}"
    return command


def _write_result(name: str, result: dict[str, Any]) -> str:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(result, indent=2, default=str) + "\n")
    partial.replace(path)
    return str(path.relative_to(RESULTS_DIR.parents[1]))


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
