"""A spend load generator, run as its own process so that it outlives the server it loads.

    python tests/integration/spend_load.py URL TOKEN PREFIX JOURNAL [--clients N]

Each client sends keyed spends of 1 point (`PREFIX-<client>-<n>`) one after another until it is
killed, and appends to JOURNAL, flushed line by line, `sent KEY` before sending and
`ok KEY TRANSACTION_ID` or `status KEY CODE` / `lost KEY` once it knows. A key with `sent` and
nothing else had its answer lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import IO

import aiohttp

REQUEST_TIMEOUT_SECONDS = 60.0


def journal_lines(path: str) -> tuple[dict[str, str], set[str], dict[str, int]]:
    """(answered 201 -> transaction id, keys sent without a known outcome, other statuses)."""
    answered: dict[str, str] = {}
    sent: set[str] = set()
    other: dict[str, int] = {}
    with open(path, encoding="utf-8") as journal:  # noqa: PTH123 - no pathlib in a script
        for line in journal:
            parts = line.split()
            if len(parts) < 2:
                continue
            if parts[0] == "sent":
                sent.add(parts[1])
            elif parts[0] == "ok" and len(parts) == 3:
                answered[parts[1]] = parts[2]
            elif parts[0] == "status" and len(parts) == 3:
                other[parts[1]] = int(parts[2])
    return answered, sent - set(answered) - set(other), other


async def client(
    http: aiohttp.ClientSession, args: argparse.Namespace, number: int, out: IO[str]
) -> None:
    headers = {"Authorization": f"Bearer {args.token}"}
    for n in range(10_000_000):
        key = f"{args.prefix}-{number}-{n}"
        out.write(f"sent {key}\n")
        out.flush()
        body = {"amount": 1, "description": key}
        try:
            async with http.post(
                f"{args.url}/api/external/points/spend",
                json=body,
                headers={**headers, "Idempotency-Key": key},
            ) as response:
                answer = await response.json(content_type=None)
                if response.status == 201:
                    out.write(f"ok {key} {answer['transaction']['id']}\n")
                else:
                    out.write(f"status {key} {response.status}\n")
        except (aiohttp.ClientError, TimeoutError, ValueError):
            out.write(f"lost {key}\n")
            await asyncio.sleep(0.05)
        out.flush()


async def main(args: argparse.Namespace, out: IO[str]) -> None:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await asyncio.gather(*(client(http, args, n, out) for n in range(args.clients)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("url", "token", "prefix", "journal"):
        parser.add_argument(name)
    parser.add_argument("--clients", type=int, default=8)
    arguments = parser.parse_args()
    with (
        contextlib.suppress(KeyboardInterrupt),
        open(arguments.journal, "a", encoding="utf-8") as journal,  # noqa: PTH123
    ):
        asyncio.run(main(arguments, journal))
