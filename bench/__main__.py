"""`python -m bench [--quick] [--json PATH] [--only NAME]`: the benchmark table.

Each scenario runs several times beside its floor (the raw limit, measured in the same run);
the table gives median, min and max, the floor's median, their ratio, the target and a verdict.
Screen scenarios run in child processes with TEXTUAL_FPS=1000 (the frame timer's wait is the
framework's, not ours; the floor app gets the same setting) and gc.freeze() after start-up.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import scenarios
from bench.dataset import dataset

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    scenario: str
    unit: str
    median: float
    low: float
    high: float
    baseline: float | None
    target: str
    ok: bool | None
    extra: dict[str, object]

    @property
    def ratio(self) -> float | None:
        return self.median / self.baseline if self.baseline else None


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(values: Sequence[float]) -> list[float]:
    return [v * 1000 for v in values]


def _child(args: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, "TEXTUAL_FPS": "1000", **(env or {})}
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=full
    )


def cold_start(store: Path, runs: int) -> list[Row]:
    def once(args: list[str]) -> float:
        started = time.perf_counter()
        child = _child(args, env={"TEXTUAL_FPS": "60"})
        assert child.stdout is not None
        line = child.stdout.readline()
        elapsed = time.perf_counter() - started
        child.wait(30)
        if line.strip() != "painted":
            raise RuntimeError(f"{' '.join(args)} never painted")
        return elapsed

    # Byte-compile agentdesk as `pip install` does for an installed package (Textual's .pyc
    # files are there already): with PYTHONDONTWRITEBYTECODE set, or sources newer than
    # their cache, every child would otherwise compile agentdesk's modules again (~15 ms).
    compileall.compile_dir(ROOT / "agentdesk", quiet=1)
    once(["-m", "bench.coldstart", "floor"])  # warm the OS file cache for both
    once(["-m", "bench.coldstart", "app", str(store)])
    app: list[float] = []
    floor: list[float] = []
    for _ in range(runs):
        floor.append(once(["-m", "bench.coldstart", "floor"]))
        app.append(once(["-m", "bench.coldstart", "app", str(store)]))
    a, f = _ms(app), _ms(floor)
    med = statistics.median(a)
    return [Row("cold start → inbox painted", "ms", med, min(a), max(a), statistics.median(f),
                "ratio ≤ 1.25", med / statistics.median(f) <= 1.25, {})]  # fmt: skip


def screen(store: Path, runs: int, presses: int) -> list[Row]:
    results: list[dict[str, object]] = []
    floors: list[dict[str, object]] = []
    for _ in range(runs):
        for which, bucket in (("floor", floors), ("app", results)):
            child = _child(["-m", "bench.tuiprobe", str(store), str(presses), which])
            out, _ = child.communicate(timeout=900)
            if child.returncode:
                raise RuntimeError(f"bench.tuiprobe {which} failed ({child.returncode})")
            bucket.append(json.loads(out))
    floor = _ms([x for f in floors for x in f["keys"]["latencies"]])  # type: ignore[index]
    floor_median = statistics.median(floor)
    rows: list[Row] = []
    for name, label in (("inbox", "inbox"), ("thread", "thread"), ("history", "history")):
        lat = _ms([x for r in results for x in r[name]["latencies"]])  # type: ignore[index]
        if not lat:
            continue
        med, p99 = statistics.median(lat), _pct(lat, 0.99)
        answered = sum(len(r[name]["latencies"]) for r in results)  # type: ignore[index]
        asked = sum(r[name]["presses"] for r in results)  # type: ignore[index]
        rows.append(Row(
            f"keypress → frame: {label}", "ms", med, min(lat), max(lat), floor_median,
            "≤ 2× floor, p99 ≤ 20", med <= 2 * floor_median and p99 <= 20,
            {"p99": round(p99, 2), "answered": f"{answered}/{asked}"},
        ))  # fmt: skip
    held = _ms([r["inbox_held"]["last_frame_after"] for r in results])  # type: ignore[index]
    held_floor = _ms([f["held"]["last_frame_after"] for f in floors])  # type: ignore[index]
    rows.append(Row("held key 30/s 3 s: last frame after last press", "ms",
                    statistics.median(held), min(held), max(held),
                    statistics.median(held_floor), "≤ 100", max(held) <= 100, {}))  # fmt: skip
    opens = _ms([x for r in results for x in r["open"]])  # type: ignore[union-attr]
    if opens:
        picked = results[0]["picked"]
        rows.append(Row("open conversation + customer (200 convs)", "ms",
                        statistics.median(opens), min(opens), max(opens), floor_median,
                        "≤ 30", statistics.median(opens) <= 30,
                        {"customer_conversations": picked["customer_conversations"]}))  # type: ignore[index]  # fmt: skip
    rss = [float(r["rss_peak_mb"]) for r in results]  # type: ignore[arg-type]
    rows.append(Row("memory: peak RSS browsing", "MB", statistics.median(rss), min(rss),
                    max(rss), None, "≤ 200", max(rss) <= 200, {}))  # fmt: skip
    return rows


def search(store: Path, rounds: int) -> list[Row]:
    result = scenarios.search(store, rounds)
    s, b = _ms(result["samples"]), _ms(result["baseline"])  # type: ignore[arg-type]
    p95 = _pct(s, 0.95)
    return [Row("search: 20 queries, top 50 shown", "ms", statistics.median(s), min(s), max(s),
                statistics.median(b), "p95 ≤ 50", p95 <= 50,
                {"p95": round(p95, 1), "slowest": result["slowest"]})]  # fmt: skip


def outbox(rounds: int) -> list[Row]:
    result = scenarios.outbox(rounds)
    s, b = _ms(result["samples"]), _ms(result["baseline"])  # type: ignore[arg-type]
    med, base = statistics.median(s), statistics.median(b)
    return [Row("outbox: action → durable commit", "ms", med, min(s), max(s), base,
                "≤ 1.5× floor", med <= 1.5 * base, {})]  # fmt: skip


def ingest(conversations: int) -> list[Row]:
    result = scenarios.ingest(conversations)
    s, b = _ms(result["samples"]), _ms(result["baseline"])  # type: ignore[arg-type]
    med, base = statistics.median(s), statistics.median(b)
    total_s = sum(result["samples"]) / 1000 * 1000  # type: ignore[arg-type]
    return [Row("ingest into store (apply_page), per 1k msgs", "ms", med, min(s), max(s), base,
                "≥ ½ floor's rate", med <= 2 * base,
                {"messages": result["messages"],
                 "messages_per_s": round(1000 / (med / 1000))})]  # fmt: skip
    del total_s


def http_ingest(conversations: int, rounds: int) -> list[Row]:
    """The simulator over loopback → connector + engine → store, beside both floors."""
    from bench import httpingest  # starts a simulator process: only when asked for

    result = httpingest.run(conversations, rounds)
    msgs, convs = result.messages, result.conversations
    product = [msgs / s for s in result.product]
    http_floor = statistics.median(msgs / s for s in result.http_floor)
    store_floor = statistics.median(msgs / s for s in result.store_floor)
    slower = min(http_floor, store_floor)
    med = statistics.median(product)
    seconds = statistics.median(result.product)
    return [Row(
        f"sync ingest over HTTP ({convs:,} convs, {msgs:,} msgs)", "msg/s", med, min(product),
        max(product), slower, "≥ 0.5× slower floor", med >= 0.5 * slower,
        {"convs_per_s": round(convs / seconds), "http_floor_msg_s": round(http_floor),
         "store_floor_msg_s": round(store_floor), "requests": result.requests,
         "seconds": round(seconds, 1)},
    )]  # fmt: skip


def fast_lane_dialects() -> list[str]:
    """The simulator's dialects whose connector has a fast lane (new ones join by themselves)."""
    from agentdesk.connectors import registry
    from agentdesk.sim.server import DIALECTS

    found = []
    for dialect in DIALECTS:
        try:
            connector = registry.get(dialect)
        except registry.UnknownConnector:  # not installed here: it has no lane to measure
            continue
        if getattr(connector, "fast_lane", None) is not None:
            found.append(dialect)
    return found


FRESHNESS_TARGET = {"websocket": 3.0, "poll": 10.0}
"""p95 seconds from a customer's message to its row on the agent's screen."""
STORM_EVENTS = 1000


def freshness(messages: int, span: float, storm_wait: float,
              dialects: Sequence[str] | None = None) -> list[Row]:  # fmt: skip
    """Per fast-lane dialect, a child process (`bench.freshness`): the real app with its real
    sync over loopback, customers writing at random moments; for websocket dialects also a
    storm of 1,000 events while keys go in."""
    rows: list[Row] = []
    for dialect in dialects if dialects is not None else fast_lane_dialects():
        from agentdesk.connectors import registry

        mode = registry.get(dialect).fast_lane.mode  # type: ignore[attr-defined]
        args = ["-m", "bench.freshness", dialect, str(messages), str(span)]
        if mode == "websocket":
            args += ["--storm", str(STORM_EVENTS), str(storm_wait)]
        child = _child(args, env={"TEXTUAL_FPS": "60"})
        out, _ = child.communicate(timeout=900)
        if child.returncode:  # one dialect's failure is its row, never the whole table's
            nan = float("nan")
            rows.append(Row(
                f"freshness {dialect} ({mode}): sent → on screen", "s", nan, nan, nan, None,
                "the child finished", False, {"failed": f"exit status {child.returncode}"},
            ))  # fmt: skip
            continue
        r = json.loads(out)
        screen, store, base = r["screen"], r["store"], r["baseline"]
        samples = r["screen_samples"] or [float("nan")]
        target = FRESHNESS_TARGET.get(mode, 10.0)
        rows.append(Row(
            f"freshness {dialect} ({mode}): sent → on screen", "s", screen["p50"],
            min(samples), max(samples), base["p50"], f"p95 ≤ {target:g} s",
            screen["p95"] <= target and r["on_screen"] == r["messages"],
            {"p95": screen["p95"], "store_p50": store["p50"], "store_p95": store["p95"],
             "store_max": store["max"], "seen": f"{r['on_screen']}/{r['messages']}",
             "old_p95": base["p95"],
             "old": f"computed: next {r['interval']:g} s round after a {r['hold_back']:g} s "
                    "hold-back"},
        ))  # fmt: skip
        limit, share = r["rate_limit_per_minute"], r["share"]
        rpm = r["busiest_minute"]
        rows.append(Row(
            f"freshness {dialect}: fast-lane requests, busiest min", "req/min", rpm, rpm, rpm,
            limit * share if limit else None, f"≤ {share:.0%} of {limit}/min",
            bool(limit) and rpm <= share * limit,
            {"of_limit": f"{rpm / limit:.1%}" if limit else "-",
             "while_measured": r["fast_requests"], "over_s": r["seconds"],
             "lane_at_end": "/".join(str(x) for x in r["lane_at_end"])},
        ))  # fmt: skip
        if "storm" in r:
            st = r["storm"]
            keys = st["key_samples_ms"] or [float("nan")]
            rows.append(Row(
                f"storm {st['events']:,} {dialect} events: key → frame", "ms",
                st["key_ms"]["p50"], min(keys), max(keys), None, "p99 ≤ 20, cursor kept",
                st["key_ms"]["p99"] <= 20 and st["cursor_stayed"]
                and st["answered"] == st["presses"],
                {"p99": st["key_ms"]["p99"], "answered": f"{st['answered']}/{st['presses']}",
                 "cursor_kept": st["cursor_stayed"], "toast_lines": st["toast_lines"],
                 "stored": f"{st['stored']}/{st['events']}",
                 "all_stored_s": st["all_stored_after_s"]},
            ))  # fmt: skip
    return rows


def print_table(rows: list[Row]) -> None:
    header = f"{'scenario':<48} {'median':>9} {'min':>9} {'max':>9} {'baseline':>9} " \
             f"{'ratio':>6}  {'target':<22} verdict"  # fmt: skip
    print(header)
    print("-" * len(header))
    for r in rows:
        base = f"{r.baseline:9.2f}" if r.baseline is not None else f"{'-':>9}"
        ratio = f"{r.ratio:6.2f}" if r.ratio is not None else f"{'-':>6}"
        verdict = {True: "ok", False: "MISS", None: "-"}[r.ok]
        extra = "  " + " ".join(f"{k}={v}" for k, v in r.extra.items()) if r.extra else ""
        print(f"{r.scenario:<48} {r.median:9.2f} {r.low:9.2f} {r.high:9.2f} {base} {ratio}  "
              f"{r.target:<22} {verdict}{extra}")  # fmt: skip
    units = sorted({r.unit for r in rows})
    print(f"(units: {', '.join(units)}; baseline = the raw floor measured in this run)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k conversations (CI size)")
    parser.add_argument("--size", type=int, help="conversations in the dataset (default 100k)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--only", action="append", default=[],
                        choices=["cold", "screen", "search", "outbox", "ingest",
                                 "http", "freshness"])  # fmt: skip
    args = parser.parse_args(argv)
    size = args.size or (10_000 if args.quick else 100_000)
    quick = args.quick or size <= 10_000
    store = dataset(size)
    plan: dict[str, Callable[[], list[Row]]] = {
        "cold": lambda: cold_start(store, 5 if quick else 10),
        "screen": lambda: screen(store, 1 if quick else 3, 120 if quick else 300),
        "search": lambda: search(store, 2 if quick else 5),
        "outbox": lambda: outbox(50 if quick else 200),
        "ingest": lambda: ingest(min(size, 2_000 if quick else 20_000)),
        # Sync ingest over HTTP at the dataset's size (100k in a full run).
        "http": lambda: http_ingest(3_000 if quick else size, 2 if quick else 1),
        # Real time: quick ~15 s a dialect; full 30 customers over 2 minutes each (four
        # complete rounds happen meanwhile, as they would).
        "freshness": lambda: freshness(
            4 if quick else 30, 8 if quick else 120, 10 if quick else 60
        ),
    }
    rows: list[Row] = []
    for name, run in plan.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        print(f"  running {name}…", file=sys.stderr, flush=True)
        rows.extend(run())
        print(f"  {name} done in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    print(f"\nagentdesk bench · {size:,} conversations · python {platform.python_version()} "
          f"· {os.cpu_count()} cpus")  # fmt: skip
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({
            "size": size, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": platform.python_version(),
            "rows": [{**asdict(r), "ratio": r.ratio} for r in rows],
        }, indent=2, ensure_ascii=False))  # fmt: skip
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
