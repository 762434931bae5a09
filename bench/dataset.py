"""The benchmark's store file, built once per size and schema version under bench/.cache/."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from agentdesk.sim.storefile import build_store
from agentdesk.store.schema import SCHEMA_VERSION

CACHE = Path(__file__).parent / ".cache"


def dataset(conversations: int) -> Path:
    """The cached store for `conversations`, built (with progress on stderr) if missing."""
    path = CACHE / f"store-{conversations}-v{SCHEMA_VERSION}.db"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for stale in CACHE.glob(partial.name + "*"):
        stale.unlink()
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 5000 < 100 or done == total:
            print(f"\r  building dataset: {done:,}/{total:,}", end="", file=sys.stderr)

    built = build_store(partial, conversations=conversations, progress=progress)
    partial.rename(path)  # only a complete build is ever reused
    print(
        f"\r  dataset: {built.conversations:,} conversations, {built.messages:,} messages, "
        f"{built.customers:,} customers, {len(built.accounts)} accounts "
        f"in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )
    return path
