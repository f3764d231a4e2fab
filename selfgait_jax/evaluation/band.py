"""Is a table where it should be? A rank-1 table checked against a band of expected values.

A band is ``{condition: (low, high)}`` of rank-1 means (e.g. the quickstart's, measured over seeds
and device counts: configs/quickstart.py ``expected_rank1``). ``verdict`` turns a table and a band
into the one line a run ends with: inside, or outside with the conditions that left it and what to
look at. ``band_of`` derives a band from measured runs' records (tools/quickstart_band.py writes
them, one JSON file a run: ``{"seed", "devices", "rank1": {condition: value}, ...}``), and
``records_markdown`` lays them out per seed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping

# A band is the measured range widened by this many points each side: a run on another machine
# (another order of float sums) or with another library version acts like one more seed.
MARGIN = 2.0

# Where to look when a table leaves its band, in the order a newcomer would check them.
WHAT_TO_LOOK_AT = (
    "look at finetune/metrics.jsonl (its loss, the mean over all triplets, and nonzero_fraction "
    "should fall), at any --config override or library version that differs from the measured "
    "runs, and at the README's 'What a good run prints'")


def outside(results: Mapping, band: Mapping) -> list[tuple[str, float | None, float, float]]:
    """``(condition, rank-1, low, high)`` for each condition of ``band`` whose rank-1 mean in
    ``results`` (results.json's dictionary) is outside ``[low, high]`` or missing."""
    found = []
    for condition in sorted(band, key=_table_order(results)):
        low, high = band[condition]
        value = _mean(results, condition)
        if value is None or not low <= value <= high:
            found.append((condition, value, float(low), float(high)))
    return found


def verdict(results: Mapping, band: Mapping, measured: str = "") -> str:
    """One line: the table's rank-1 per condition and whether it lies inside ``band`` (``measured``
    says where the band comes from, e.g. "8 seeds on 1 and 4 CPU devices"). An empty band is one
    not measured yet: the line says so (``measured`` then says how to measure it), never "inside"."""
    if not band:
        table = ", ".join(f"{cond} {_fmt(_mean(results, cond))}" for cond in results["conditions"])
        return f"band check: rank-1 {table}; no band is measured for this recipe yet ({measured})."
    # The table's order of conditions (NM, BG, CL), whatever order the band's mapping keeps.
    band = {cond: band[cond] for cond in sorted(band, key=_table_order(results))}
    table = ", ".join(f"{cond} {_fmt(_mean(results, cond))}" for cond in band)
    where = f"the band of {measured}" if measured else "the expected band"
    missed = outside(results, band)
    if not missed:
        bounds = ", ".join(f"{cond} {_range(*bounds)}" for cond, bounds in band.items())
        return f"band check: rank-1 {table} is inside {where} ({bounds})."
    why = "; ".join(f"{cond} {_fmt(value)} " + ("missing from" if value is None else
                                                 "below" if value < low else "above")
                    + f" {_range(low, high)}" for cond, value, low, high in missed)
    return f"band check: rank-1 {table} is OUTSIDE {where} ({why}): {WHAT_TO_LOOK_AT}."


def _table_order(results: Mapping):
    order = list(results["conditions"])
    return lambda cond: (order.index(cond), cond) if cond in order else (len(order), cond)


def _mean(results: Mapping, condition: str) -> float | None:
    return (results["conditions"].get(condition) or {}).get("mean")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _range(low: float, high: float) -> str:
    return f"{low:.1f}-{high:.1f}"


def recipe_sha256(config) -> str:
    """sha256 of a config (a ConfigDict) without its band (``expected_rank1``, ``expected_from``):
    which recipe a record measured, unchanged when only the band stated from it is edited."""
    data = json.loads(config.to_json())
    for key in ("expected_rank1", "expected_from"):
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def band_of(records, margin: float = MARGIN) -> dict[str, tuple[float, float]]:
    """``{condition: (min - margin, max + margin)}`` over the records' rank-1, rounded outwards to
    0.5 points; conditions in the first record's order."""
    if not records:
        raise ValueError("no records to derive a band from")
    band = {}
    for condition in records[0]["rank1"]:
        values = [r["rank1"][condition] for r in records]
        band[condition] = (math.floor(2 * (min(values) - margin)) / 2,
                           math.ceil(2 * (max(values) + margin)) / 2)
    return band


def records_markdown(records) -> str:
    """One table per device count: a row per seed, a column per condition, then min-max and mean."""
    lines = []
    conditions = list(records[0]["rank1"]) if records else []
    for devices in sorted({r["devices"] for r in records}):
        rows = sorted((r for r in records if r["devices"] == devices), key=lambda r: r["seed"])
        lines += [f"{devices} CPU device{'s' if devices > 1 else ''}, {len(rows)} seeds:", "",
                  "| seed | " + " | ".join(conditions) + " | CPU time (s) |",
                  "|---" * (len(conditions) + 2) + "|"]
        for r in rows:
            cpu = r.get("cpu_s")
            lines.append(f"| {r['seed']} | " + " | ".join(f"{r['rank1'][c]:.1f}" for c in conditions)
                         + f" | {'-' if cpu is None else f'{cpu:.0f}'} |")
        for name, pick in (("min-max", lambda v: f"{min(v):.1f}-{max(v):.1f}"),
                           ("mean", lambda v: f"{sum(v) / len(v):.1f}")):
            lines.append(f"| {name} | " + " | ".join(pick([r["rank1"][c] for r in rows]) for c in conditions)
                         + " | |")
        lines.append("")
    return "\n".join(lines)
