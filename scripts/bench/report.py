"""The benchmark's tables: added latency and throughput pair by pair, load
levels, resources, failover, and the issue's targets checked on the ratios."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from load import Result

DIRECT = "direct to the provider"
BARE = "bare mitmdump (redirect only)"


@dataclass
class Row:
    name: str
    results: dict[int, Result]
    errors: list[str]
    streams: int = 0
    cpu: float | None = None  # CPU seconds of the path's processes over its streams
    cpu_main: float | None = None  # of those, the first process's (mitmdump)
    rss: dict[str, float] = field(default_factory=dict)  # process -> peak RSS MB
    rounds: dict[int, list[tuple[Result, float]]] = field(default_factory=dict)
    """Interleaved rounds per level (--state): each round's result and CPU seconds."""

    def median(self, level: int, what: str = "ttfb") -> float | None:
        r = self.results.get(level)
        values = getattr(r, what) if r else []
        return statistics.median(values) * 1000 if values else None

    def p99(self, level: int, what: str = "ttfb") -> float | None:
        r = self.results.get(level)
        values = sorted(getattr(r, what)) if r else []
        return values[min(len(values) - 1, int(len(values) * 0.99))] * 1000 if values else None

    def rate(self, level: int) -> float | None:
        r = self.results.get(level)
        return r.streams / r.elapsed if r and r.elapsed and r.streams else None

    def error_count(self) -> int:
        return len(self.errors) + sum(len(r.errors) for r in self.results.values())


def _f(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _added(row: Row, base: Row | None, level: int, what: str) -> float | None:
    mine, ref = row.median(level, what), base.median(level, what) if base else None
    return None if mine is None or ref is None else mine - ref


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def main_table(rows: list[Row], level: int) -> list[str]:
    by = {r.name: r for r in rows}
    direct, bare = by.get(DIRECT), by.get(BARE)
    bare_added = _added(bare, direct, level, "ttfb") if bare else None
    out = [f"At {level} concurrent streams (medians; added = path minus direct, same run):", "",
           "| path | added TTFB ms | added total ms | streams/s | added TTFB x bare "
           "| streams/s x bare | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if level not in row.results and not row.errors:
            continue
        added = _added(row, direct, level, "ttfb")
        out.append(
            f"| {row.name} | {_f(added)} | {_f(_added(row, direct, level, 'total'))} "
            f"| {_f(row.rate(level))} | {_f(_ratio(added, bare_added), '{:.2f}x')} "
            f"| {_f(_ratio(row.rate(level), bare.rate(level) if bare else None), '{:.2f}x')} "
            f"| {row.error_count()} |")
    return out


def levels_table(rows: list[Row], levels: tuple[int, ...]) -> list[str]:
    cols = " | ".join(f"streams/s @{n}" for n in levels)
    p99s = " | ".join(f"p99 TTFB ms @{n}" for n in levels)
    tots = " | ".join(f"p99 total ms @{n}" for n in levels)
    out = ["", "Load levels:", "", f"| path | {cols} | {p99s} | {tots} |",
           "|---|" + "---:|" * (3 * len(levels))]
    for row in rows:
        if not any(n in row.results for n in levels[1:]):
            continue
        out.append(f"| {row.name} | " + " | ".join(_f(row.rate(n)) for n in levels) + " | "
                   + " | ".join(_f(row.p99(n)) for n in levels) + " | "
                   + " | ".join(_f(row.p99(n, "total"), "{:.0f}") for n in levels) + " |")
    return out


def resources_table(rows: list[Row]) -> list[str]:
    out = ["", "Resources (CPU of the path's processes per stream, all levels; peak RSS of "
           "each process over its whole run):", "",
           "| path | CPU ms per stream | of which the first process | peak RSS MB |",
           "|---|---:|---:|---|"]
    for row in rows:
        if row.cpu is None and not row.rss:
            continue
        per = 1000 / row.streams if row.streams else None
        cpu = row.cpu * per if row.cpu is not None and per else None
        main = row.cpu_main * per if row.cpu_main is not None and per else None
        rss = ", ".join(f"{name} {mb:.0f}" for name, mb in row.rss.items())
        out.append(f"| {row.name} | {_f(cpu)} | {_f(main)} | {rss} |")
    return out


def failover_lines(rows: list[Row]) -> list[str]:
    out = []
    for row in rows:
        if "429 then next" not in row.name:
            continue
        plain = next((r for r in rows if r.name == row.name.replace("429 then next",
                                                                      "cross-format")), None)
        if plain is not None:
            out.append(f"Failover (429, then the next target), {row.name.split(',')[0]}: "
                       f"+{_f(_added(row, plain, 1, 'ttfb'))} ms to first byte "
                       f"({_f(row.median(1))} vs {_f(plain.median(1))} ms, 1 stream at a time)")
    return ["", *out] if out else []


def target_lines(rows: list[Row], levels: tuple[int, ...]) -> list[str]:
    by = {r.name: r for r in rows}
    direct, bare = by.get(DIRECT), by.get(BARE)
    cross = next((r for r in rows if r.name.startswith("omniroute default, cross")), None)
    eng = next((r for r in rows if r.name.startswith("engine as base URL")), None)
    lite = next((r for r in rows if r.name.startswith("LiteLLM")), None)
    lvl, top = (16 if 16 in levels else levels[-1]), levels[-1]
    checks: list[tuple[str, float | None, float, bool]] = []
    if cross and bare and direct:
        checks.append((f"cross-format default mode: added TTFB x bare @{lvl} (<= 1.3)",
                       _ratio(_added(cross, direct, lvl, "ttfb"),
                              _added(bare, direct, lvl, "ttfb")), 1.3, False))
        checks.append((f"cross-format default mode: streams/s x bare @{lvl} (>= 0.8)",
                       _ratio(cross.rate(lvl), bare.rate(lvl)), 0.8, True))
        checks.append((f"cross-format default mode: errors @{top} (0)",
                       float(len(cross.results[top].errors)) if top in cross.results else None,
                       0, False))
    if eng and lite and direct:
        checks.append((f"engine vs LiteLLM: streams/s ratio @{lvl} (>= 10)",
                       _ratio(eng.rate(lvl), lite.rate(lvl)), 10, True))
        checks.append((f"engine vs LiteLLM: added TTFB ratio @{lvl} (<= 0.2)",
                       _ratio(_added(eng, direct, lvl, "ttfb"),
                              _added(lite, direct, lvl, "ttfb")), 0.2, False))
    rss = max((mb for r in rows if not r.name.startswith("LiteLLM") for mb in r.rss.values()),
              default=None)
    checks.append(("peak RSS of our processes, MB (< 150)", rss, 150, False))
    return ["", "Targets (issue 9):", *_checked(checks)]


def _checked(checks: list[tuple[str, float | None, float, bool]]) -> list[str]:
    out = []
    for text, value, bound, at_least in checks:
        ok = value is not None and (value >= bound if at_least else value <= bound)
        out.append(f"- {text}: {_f(value, '{:.2f}')} {'ok' if ok else 'MISSED'}")
    return out


def _state_rows(rows: list[Row]) -> tuple[Row | None, Row | None]:
    by = {r.name: r for r in rows}
    return by.get("omniroute default, cross-format"), by.get(
        "omniroute default+redis, cross-format")


def _round_medians(row: Row, level: int) -> list[float]:
    """Each round's median TTFB, ms."""
    return [statistics.median(r.ttfb) * 1000 for r, _ in row.rounds.get(level, []) if r.ttfb]


def _round_rates(row: Row, level: int) -> list[float]:
    return [r.streams / r.elapsed for r, _ in row.rounds.get(level, []) if r.elapsed]


def _paired(memory: Row, shared: Row, level: int) -> tuple[list[float], list[float]]:
    """Round by round (round i of each ran next to each other): Redis's median
    TTFB minus memory's, ms, and Redis's streams/s over memory's."""
    pairs = list(zip(memory.rounds.get(level, []), shared.rounds.get(level, []), strict=False))
    deltas = [statistics.median(b.ttfb) * 1000 - statistics.median(a.ttfb) * 1000
              for (a, _), (b, _) in pairs if a.ttfb and b.ttfb]
    ratios = [(b.streams / b.elapsed) / (a.streams / a.elapsed)
              for (a, _), (b, _) in pairs if a.elapsed and b.elapsed and a.streams]
    return deltas, ratios


def _spread(values: list[float], fmt: str = "{:.1f}", ci: bool = False) -> str:
    """The median [lowest, highest]; ``ci``: [the bounds of :func:`median_ci`]."""
    if not values:
        return "-"
    xs = sorted(values)
    k = max(1, median_ci(len(xs))[0]) if ci else 1
    mid = fmt.format(statistics.median(xs))
    return f"{mid} [{fmt.format(xs[k - 1])}, {fmt.format(xs[len(xs) - k])}]"


def median_ci(n: int, alpha: float = 0.05) -> tuple[int, float]:
    """A confidence interval for a median from ``n`` independent values, free
    of any distribution (the sign test): from the k-th lowest to the k-th
    highest value; (k, its confidence). k = 0: too few values for 1 - alpha
    (the lowest and highest then give 1 - 2 / 2**n)."""
    k, below = 0, 0.0
    while k < n and below + math.comb(n, k) / 2**n <= alpha / 2:
        below += math.comb(n, k) / 2**n
        k += 1
    return k, 1 - 2 * (below if k else 1 / 2**n)


def _round_cpu(row: Row, level: int) -> float | None:
    runs = row.rounds.get(level, [])
    streams = sum(r.streams for r, _ in runs)
    return sum(cpu for _, cpu in runs) * 1000 / streams if streams else None


def state_table(rows: list[Row], levels: tuple[int, ...], rounds: int) -> list[str]:
    """The shared state against memory, round by round (--state)."""
    memory, shared = _state_rows(rows)
    if memory is None or shared is None or not memory.rounds:
        return []
    k, confidence = median_ci(rounds)
    out = ["", f"Shared state (cross-format, default mode): memory and Redis in {rounds} "
           "alternating rounds per level, each on kept-alive connections; the median over "
           "the rounds [lowest, highest]; paired: round i of Redis against round i of memory, "
           f"the median [a {confidence:.0%} confidence interval for it: the "
           f"{_nth(max(k, 1))} lowest and highest pair]:", "",
           "| streams | median TTFB ms, memory | Redis | Redis minus memory, paired "
           "| streams/s, memory | Redis | Redis x memory, paired | CPU ms/stream, memory "
           "| Redis |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for level in levels:
        deltas, ratios = _paired(memory, shared, level)
        out.append(
            f"| {level} | {_spread(_round_medians(memory, level))} "
            f"| {_spread(_round_medians(shared, level))} "
            f"| {_spread(deltas, '{:+.1f}', ci=True)} "
            f"| {_spread(_round_rates(memory, level))} | {_spread(_round_rates(shared, level))} "
            f"| {_spread(ratios, '{:.2f}', ci=True)} | {_f(_round_cpu(memory, level))} "
            f"| {_f(_round_cpu(shared, level))} |")
    return out


def _nth(k: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(k, f"{k}th")


def state_checks(rows: list[Row], levels: tuple[int, ...]) -> list[tuple[str, float | None,
                                                                         float, bool]]:
    """The shared state (issue 18): Redis against memory, default mode,
    cross-format; with rounds, the median of the paired rounds' figures."""
    memory, shared = _state_rows(rows)
    if memory is None or shared is None:
        return []
    checks: list[tuple[str, float | None, float, bool]] = []
    for level in levels:
        deltas, ratios = _paired(memory, shared, level)
        rate = statistics.median(ratios) if ratios else _ratio(shared.rate(level),
                                                               memory.rate(level))
        ttfb = statistics.median(deltas) if deltas else _added(shared, memory, level, "ttfb")
        checks.append((f"redis state: streams/s x memory state @{level} (>= 0.9)",
                       rate, 0.9, True))
        checks.append((f"redis state: median TTFB ms minus memory state's @{level} (<= 1.0)",
                       ttfb, 1.0, False))
    return checks


def _cpu_per_stream(row: Row | None) -> float | None:
    if row is None or row.cpu is None or not row.streams:
        return None
    return row.cpu * 1000 / row.streams


def long_target_lines(rows: list[Row], levels: tuple[int, ...]) -> list[str]:
    """Issue 20's targets for long requests: added TTFB at most 1.3x bare
    mitmproxy's at every level, same and cross format; CPU per request (all
    of the path's processes) at most 1.5x bare mitmproxy's."""
    by = {r.name: r for r in rows}
    direct, bare = by.get(DIRECT), by.get(BARE)
    checks: list[tuple[str, float | None, float]] = []
    for row in rows:
        if not row.name.startswith("omniroute default, ") or "429" in row.name:
            continue
        kind = row.name.removeprefix("omniroute default, ")
        for level in levels:
            checks.append((f"{kind}: added TTFB x bare @{level} (<= 1.3)",
                           _ratio(_added(row, direct, level, "ttfb"),
                                  _added(bare, direct, level, "ttfb") if bare else None), 1.3))
        checks.append((f"{kind}: CPU per request x bare (<= 1.5)",
                       _ratio(_cpu_per_stream(row), _cpu_per_stream(bare)), 1.5))
    out = ["", "Targets (issue 20, long requests):"]
    for text, value, bound in checks:
        ok = value is not None and value <= bound
        out.append(f"- {text}: {_f(value, '{:.2f}')} {'ok' if ok else 'MISSED'}")
    return out


def render(rows: list[Row], levels: tuple[int, ...], head: str,
           long: bool = False, rounds: int = 1) -> tuple[str, bool]:
    level = 16 if 16 in levels else levels[-1]
    mains = [line for n in (levels if long else (level,)) for line in [*main_table(rows, n), ""]]
    targets = long_target_lines(rows, levels) if long else target_lines(rows, levels)
    lines = [head, "", *mains[:-1], *levels_table(rows, levels),
             *resources_table(rows), *failover_lines(rows), *targets]
    lines += state_table(rows, levels, rounds)
    if shared := state_checks(rows, levels):
        lines += ["", "Targets (issue 18, the shared state):", *_checked(shared)]
    bad = [r for r in rows if r.error_count() or not r.results]
    if direct_is_bottleneck(rows, level):
        lines.append(f"- WARNING: direct is not well above every proxied path @{level}: "
                     "the load generator or the provider may be the bottleneck")
    for row in bad:
        errors = row.errors + [e for r in row.results.values() for e in r.errors]
        lines.append(f"- {row.name}: {len(errors)} errors, first: {errors[0] if errors else '?'}")
    return "\n".join(lines), bool(bad)


def direct_is_bottleneck(rows: list[Row], level: int) -> bool:
    direct = next((r for r in rows if r.name == DIRECT), None)
    best = max((r.rate(level) or 0 for r in rows if r.name != DIRECT), default=0)
    return direct is not None and (direct.rate(level) or 0) < 1.5 * best
