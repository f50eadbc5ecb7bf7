"""A serving fleet polling `GET /v1/targets/{t}/routing`, for benchmarks/api.py.

Each poller is one keep-alive connection driven by asyncio (uvloop) with a minimal HTTP/1.1 reader, so
that 64 of them cost the shared cores as little as they can. Pollers either poll at a fixed rate with
`If-None-Match` (the fleet's usual loop) or long-poll with `?wait_for_generation=N`. Every answer's
latency and the moment each poller first saw each routing generation are recorded; `visibility` turns
them, with the commit time of each change, into how long the whole fleet took to see it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Poller:
    latencies: list[float] = field(default_factory=list)
    seen: dict[int, float] = field(default_factory=dict)  # generation -> when first seen (monotonic)
    statuses: dict[int, int] = field(default_factory=dict)
    generation: int = -1


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes):  # noqa: ANN202
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    length = int(lower[at + 15 : lower.index(b"\r\n", at)]) if at >= 0 else 0
    body = await reader.readexactly(length) if length else b""
    return status, body


def _request(path: str, token: str, etag: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: bench", f"Authorization: Bearer {token}"]
    lines += [f"If-None-Match: {etag}"] if etag else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _note(poller: Poller, status: int, body: bytes) -> None:
    poller.statuses[status] = poller.statuses.get(status, 0) + 1
    if status == 200:
        generation = json.loads(body)["generation"]
        if generation != poller.generation:
            poller.generation = generation
            poller.seen.setdefault(generation, time.monotonic())
    elif status != 304:
        raise SystemExit(f"routing read answered {status}: {body[:200]!r}")


async def _poll(port: int, path: str, token: str, interval: float, until: float, poller: Poller) -> None:
    """ETag polling every ``interval`` seconds (0: back to back) until ``until`` (monotonic)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    due = time.monotonic() + random.uniform(0, interval)
    while (now := time.monotonic()) < until:
        if due > now:
            await asyncio.sleep(due - now)
        etag = f'"{poller.generation}"' if poller.generation >= 0 else None
        started = time.perf_counter()
        status, body = await _exchange(reader, writer, _request(path, token, etag))
        poller.latencies.append(time.perf_counter() - started)
        _note(poller, status, body)
        due = max(due + interval, time.monotonic() - interval)  # never a burst to catch up
    writer.close()


async def _long_poll(port: int, path: str, token: str, until: float, poller: Poller) -> None:
    """Long-poll: wait for the generation after the one held, until ``until`` (monotonic)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    status, body = await _exchange(reader, writer, _request(path, token, None))
    _note(poller, status, body)
    while (left := until - time.monotonic()) > 0.05:
        query = f"?wait_for_generation={poller.generation}&timeout={min(left, 30):.2f}"
        status, body = await _exchange(reader, writer, _request(path + query, token, None))
        _note(poller, status, body)
    writer.close()


async def poll_fleet(
    port: int, path: str, token: str, *, pollers: int, rate: float, seconds: float, long_poll: bool = False
) -> list[Poller]:
    """Run ``pollers`` for ``seconds``: at ``rate`` reads/s in all (0: back to back), or long-polling."""
    fleet = [Poller() for _ in range(pollers)]
    until = time.monotonic() + seconds
    interval = pollers / rate if rate else 0.0
    if long_poll:
        runs = [_long_poll(port, path, token, until, p) for p in fleet]
    else:
        runs = [_poll(port, path, token, interval, until, p) for p in fleet]
    await asyncio.gather(*runs)
    return fleet


def latency_summary(fleet: list[Poller]) -> tuple[int, float, float]:
    """(reads, p50 ms, p99 ms) over every poller's answers."""
    ms = np.asarray([x for p in fleet for x in p.latencies]) * 1000
    return len(ms), float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def visibility(fleet: list[Poller], commits: list[tuple[int, float]]) -> list[float]:
    """For each change (its generation and commit time), seconds until the last poller saw it or a
    later generation."""
    out = []
    for generation, committed in commits:
        firsts = [min((t for g, t in p.seen.items() if g >= generation), default=None) for p in fleet]
        if any(t is None for t in firsts):
            raise SystemExit(f"a poller never saw generation {generation}")
        out.append(max(firsts) - committed)  # type: ignore[type-var]
    return out
