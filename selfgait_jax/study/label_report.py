"""The label-efficiency study's numbers and the generated section of docs/label_efficiency.md: the
zero-shot probe (pretrained against the same network after one step), rank-1 against the label
fraction for each start, the paired differences with w/o PT, a verdict per fraction, and the figure.

Every number is the mean rank-1 of NM, BG and CL (each the mean over the probe views, identical
views excluded). Runs are compared seed by seed: a seed fixes the labelled subset, the batches and
the initialisation of what is not pretrained, and fine-tuning seed s starts from pretraining seed s.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np

from selfgait_jax.data.splits import CASIA_B_CONDITIONS as CONDITIONS
from selfgait_jax.study import figures, label_rows, rows
from selfgait_jax.study.label_rows import FineTuning, Pretraining
from selfgait_jax.study.report import mean_std_cell, rewrite_section
from selfgait_jax.study.runs import Runs, condition_means

REPORT_BEGIN, REPORT_END = "<!-- labels:begin -->", "<!-- labels:end -->"
FIGURE = "label_efficiency.png"  # in the doc's images/ folder (on CASIA-B: casia_b_label_efficiency.png)
GAP_BINS = (0, 18, 36, 54, 72)  # view gaps in degrees (`view_gap`); the last bin holds 72° and more


def average(means: dict) -> float:
    """The NM/BG/CL average of a run's {condition: mean rank-1}."""
    return float(np.mean([means[c] for c in CONDITIONS]))


# A row or pretraining name: the pretext, then the pool and passes where they are not the study's.
_ROW = re.compile(r"(?P<pretext>.+?)(?:_sg(?P<pool>[0-9.]+))?(?:_(?P<passes>[0-9]+)passes)?")


def row_name(row: str) -> str:
    """A fine-tuning row or pretraining name as the tables show it: ``contrastive_sg6`` ->
    "`contrastive`, SG-6 pool", ``contrastive_6passes`` -> "`contrastive`, 6 passes"."""
    if row == "wo_pt":
        return "w/o PT (random init)"
    found = _ROW.fullmatch(row)
    parts = [f"`{found['pretext']}`"]
    if found["pool"]:
        parts.append(f"SG-{found['pool']} pool")
    if found["passes"]:
        parts.append(f"{found['passes']} passes")
    return ", ".join(parts)


def _percent(fraction: float) -> str:
    return f"{100 * fraction:g} %"


def _signed(values) -> str:
    return ", ".join(f"{v:+.1f}" for v in values)


def fine_tuned(collected: dict) -> dict:
    """row -> fraction -> seed -> NM/BG/CL average, of the finished fine-tuning runs."""
    table = {}
    for run, means in collected.items():
        if isinstance(run, FineTuning):
            table.setdefault(run.row, {}).setdefault(run.fraction, {})[run.seed] = average(means)
    return table


def zero_shot(collected: dict) -> dict:
    """pretraining name -> seed -> ("pretrained" or "one_step") -> split -> NM/BG/CL average."""
    table = {}
    for run, splits in collected.items():
        if isinstance(run, Pretraining):
            name = run.full.name
            which = "one_step" if run.onestep else "pretrained"
            table.setdefault(name, {}).setdefault(run.seed, {})[which] = {
                s: average(m) for s, m in splits.items()}
    return table


def paired(a: dict, b: dict) -> dict:
    """seed -> a − b, over the seeds both have."""
    return {s: a[s] - b[s] for s in sorted(set(a) & set(b))}


def _layout(plan) -> tuple[list, dict, dict]:
    """From the plan: the pretraining names, row -> fractions, and (row, fraction) -> planned seeds."""
    pretrainings, fractions, seeds = [], {}, {}
    for run in plan:
        if isinstance(run, Pretraining) and not run.onestep and run.name not in pretrainings:
            pretrainings.append(run.name)
        if isinstance(run, FineTuning):
            if run.fraction not in fractions.setdefault(run.row, []):
                fractions[run.row].append(run.fraction)
            seeds.setdefault((run.row, run.fraction), set()).add(run.seed)
    return pretrainings, fractions, seeds


def zero_shot_table(table: dict, pretrainings, planned_seeds: dict) -> str:
    lines = ["| pretraining | seed | validation: pretrained | after 1 step | gain | test: pretrained | "
             "after 1 step | gain |", "|---|---|---|---|---|---|---|---|"]
    for name in pretrainings:
        runs = table.get(name, {})
        gains = {split: {} for split in label_rows.SPLITS}
        for seed in sorted(planned_seeds[name]):
            found = runs.get(seed, {})
            if not found:
                lines.append(f"| {row_name(name)} | {seed} | pending | | | | | |")
                continue
            cells = []
            for split in label_rows.SPLITS:
                pre = found.get("pretrained", {}).get(split)
                one = found.get("one_step", {}).get(split)
                cells += [f"{pre:.1f}" if pre is not None else "pending",
                          f"{one:.1f}" if one is not None else "pending"]
                if pre is not None and one is not None:
                    gains[split][seed] = pre - one
                    cells.append(f"**{pre - one:+.1f}**")
                else:
                    cells.append("—")
            lines.append(f"| {row_name(name)} | {seed} | " + " | ".join(cells) + " |")
        summary = []
        for split in label_rows.SPLITS:
            values = list(gains[split].values())
            summary += ["", "", f"{np.mean(values):+.1f} (> 0 on {sum(v > 0 for v in values)} of {len(values)})"
                        if values else "—"]
        if any(gains.values()):
            lines.append(f"| {row_name(name)} | mean gain | " + " | ".join(summary) + " |")
    return "\n".join(lines)


def view_gap(a: int, b: int) -> int:
    """Degrees between view ``b`` and the nearer of view ``a`` and its mirror view 180 − ``a``
    (CASIA-B's angles): a walk seen at θ and at 180 − θ gives near mirror-image silhouettes, so a
    network matches those pairs as easily as neighbouring views."""
    return min(abs(a - b), abs(a + b - 180))


def rank1_by_gap(results: dict) -> dict | None:
    """GAP_BINS bin -> mean rank-1 of the NM/BG/CL cross-view cells whose `view_gap` falls in it
    (identical views excluded; the last bin holds every larger gap); None for results written
    without their matrices."""
    views = [int(v) for v in results["views"]]
    cells = {}
    for condition in CONDITIONS:
        matrix = results["conditions"][condition].get("matrix")
        if matrix is None:
            return None
        for i, a in enumerate(views):
            for j, b in enumerate(views):
                if i != j and matrix[i][j] is not None:
                    gap = view_gap(a, b)
                    cells.setdefault(max(g for g in GAP_BINS if g <= gap), []).append(matrix[i][j])
    return {g: float(np.mean(v)) for g, v in sorted(cells.items())}


def _gap_cells(values: list[dict], signed: bool) -> str:
    """The table cells of GAP_BINS: the mean over ``values`` (bin -> rank-1), gains ``signed`` and
    with their range."""
    cells = []
    for g in GAP_BINS:
        found = [v[g] for v in values if g in v]
        if not found:
            cells.append("—")
        elif signed and len(found) > 1:
            cells.append(f"{np.mean(found):+.1f} ({min(found):+.1f} to {max(found):+.1f})")
        else:
            cells.append(f"{np.mean(found):+.1f}" if signed else f"{np.mean(found):.1f}")
    return " | ".join(cells)


def gap_table(runs: Runs, plan) -> str:
    """Zero-shot rank-1 by view gap, per split: the 1-step networks' (mean over the distinct ones)
    and each pretraining's gain over its twin (mean over seeds, with the range); "" before any pair."""
    labels = ["mirror view (0°)", *(f"{g}°" for g in GAP_BINS[1:-1]), f"≥ {GAP_BINS[-1]}°"]
    lines = ["| split | network | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(GAP_BINS)]
    pretrainings = [r for r in plan if isinstance(r, Pretraining) and not r.onestep]
    for split in label_rows.SPLITS:
        twins, gains = {}, {}
        for run in pretrainings:
            found = [runs.zero_shot(r, split) for r in (run, run.twin)]
            pre, one = (rank1_by_gap(f) if f is not None else None for f in found)
            if pre is not None and one is not None:
                # A 1-step network is its pretext, seed and pool: the steps row's twin is the SG-2 row's.
                twins[(run.pretext, run.seed, run.pool_ratio)] = one
                gains.setdefault(run.name, []).append({g: pre[g] - one[g] for g in pre})
        if twins:
            lines.append(f"| {split} | after 1 step (mean of {len(twins)}) | "
                         f"{_gap_cells(list(twins.values()), False)} |")
        for name, per_seed in gains.items():
            seeds = f"{len(per_seed)} seed{'s' if len(per_seed) > 1 else ''}"
            lines.append(f"| {split} | {row_name(name)}: gain over 1 step ({seeds}) | "
                         f"{_gap_cells(per_seed, True)} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def every_fraction(fractions: dict) -> list[float]:
    """The label fractions of the plan, whichever row they belong to, smallest first."""
    return sorted({f for row_fractions in fractions.values() for f in row_fractions})


def label_table(table: dict, fractions: dict, planned_seeds: dict) -> str:
    every = every_fraction(fractions)
    lines = ["| start | " + " | ".join(_percent(f) for f in every) + " |", "|---|" + "---|" * len(every)]
    for row, row_fractions in fractions.items():
        cells = []
        for fraction in every:
            if fraction not in row_fractions:
                cells.append("—")
                continue
            values = list(table.get(row, {}).get(fraction, {}).values())
            planned = len(planned_seeds[(row, fraction)])
            cells.append(f"{mean_std_cell(values)} ({len(values)} of {planned})" if values else "pending")
        lines.append(f"| {row_name(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def differences_table(table: dict, fractions: dict) -> str:
    every = every_fraction(fractions)
    lines = ["| start − w/o PT, seed by seed | " + " | ".join(_percent(f) for f in every) + " |",
             "|---|" + "---|" * len(every)]
    base = table.get("wo_pt", {})
    for row, row_fractions in fractions.items():
        if row == "wo_pt":
            continue
        cells = []
        for fraction in every:
            if fraction not in row_fractions:
                cells.append("—")
                continue
            diffs = paired(table.get(row, {}).get(fraction, {}), base.get(fraction, {}))
            seeds = ", ".join(f"s{s} {d:+.1f}" for s, d in diffs.items())
            mean = f" (mean {np.mean(list(diffs.values())):+.1f})" if len(diffs) > 1 else ""
            cells.append(seeds + mean if diffs else "pending")
        lines.append(f"| {row_name(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _judged(name: str, diffs: dict, planned: int, against: str = "w/o PT") -> str:
    """'NAME beats AGAINST on every finished seed (k of n seeds: ...)' or 'does not', or pending. A
    seed's difference counts as a win when it is above zero as the report shows it (one decimal): a
    +0.03 is level, not a win the reader cannot see."""
    if not diffs:
        return f"{name} against {against}: pending (no seed finished for both)"
    k = f"{len(diffs)} of {planned} seed{'s' if planned > 1 else ''}: {_signed(diffs.values())}"
    if all(round(d, 1) > 0 for d in diffs.values()):
        return f"{name} beats {against} on every finished seed ({k})"
    return f"{name} does not beat {against} on every finished seed ({k})"


# The transfer row's fine-tuning (its row and fraction are the same for every seed).
TRANSFER = label_rows.transfer_runs(0)[-1]


def verdicts(table: dict, fractions: dict, planned_seeds: dict) -> list[str]:
    lines = []
    base = table.get("wo_pt", {})
    for fraction in every_fraction(fractions):
        judged = [_judged(row_name(row), paired(table.get(row, {}).get(fraction, {}), base.get(fraction, {})),
                          len(planned_seeds[(row, fraction)]))
                  for row in label_rows.PRETEXTS if fraction in fractions.get(row, ())]
        lines.append(f"- **{_percent(fraction)} labels:** " + "; ".join(judged) + ".")
    fraction = label_rows.POOL_ROW_FRACTION
    other = label_rows.OTHER_PRETEXT
    pool = FineTuning(other, fraction, 0, label_rows.POOL_ROW_RATIO).row
    steps = FineTuning(other, fraction, 0, passes=label_rows.STEPS_ROW_PASSES).row

    def judged(row, against_row, against=None, at=fraction):
        planned = len(planned_seeds[(row, at)])
        diffs = paired(table.get(row, {}).get(at, {}), table.get(against_row, {}).get(at, {}))
        return _judged(row_name(row), diffs, planned, against or row_name(against_row))

    if fraction in fractions.get(pool, ()):
        lines.append(f"- **Pool size ({_percent(fraction)} labels):** "
                     + judged(pool, other, f"the SG-{label_rows.POOL_RATIO:g} pool") + "; "
                     + judged(pool, "wo_pt", "w/o PT") + ".")
    if fraction in fractions.get(steps, ()):
        lines.append(f"- **Steps ({_percent(fraction)} labels; the SG-2 pool for the pool-size row's steps):** "
                     + judged(steps, other, f"{label_rows.PASSES} passes") + "; "
                     + judged(steps, "wo_pt", "w/o PT")
                     + (f"; at the same steps, {judged(pool, steps)}" if fraction in fractions.get(pool, ()) else "")
                     + ".")
    at = TRANSFER.fraction
    if at in fractions.get(TRANSFER.row, ()):
        lines.append(f"- **Transfer ({_percent(at)} labels; pretrained on rendered walkers, fine-tuned on "
                     "real ones):** " + judged(TRANSFER.row, "wo_pt", "w/o PT", at) + "; "
                     + judged(TRANSFER.row, "paper", "`paper` pretrained on CASIA-B's training subjects", at) + ".")
    return lines


def goal_verdicts(tuned: dict, probed: dict, planned_seeds: dict) -> list[str]:
    """Whether a pretext (and the transfer row) reaches the goal a self-supervised tool exists for,
    seed by seed: fine-tuned at the yardstick fraction, `label_rows.GOAL_FINETUNED` points above
    w/o PT; frozen, `label_rows.GOAL_ZERO_SHOT` points above its 1-step twin on the test split."""
    fraction = label_rows.CASIA_B_YARDSTICK_FRACTION
    base = tuned.get("wo_pt", {}).get(fraction, {})
    lines = []
    for pretext in (*label_rows.PRETEXTS, TRANSFER.row):
        planned = len(planned_seeds.get((pretext, fraction), ()))
        if not planned:
            continue
        tuned_gains = paired(tuned.get(pretext, {}).get(fraction, {}), base)
        frozen_gains = {seed: found["pretrained"]["test"] - found["one_step"]["test"]
                        for seed, found in sorted(probed.get(pretext, {}).items())
                        if "pretrained" in found and "one_step" in found}
        verdicts = []
        for what, gains, goal in (("fine-tuned", tuned_gains, label_rows.GOAL_FINETUNED),
                                  ("frozen", frozen_gains, label_rows.GOAL_ZERO_SHOT)):
            if not gains:
                verdicts.append(f"{what}: pending")
                continue
            met = sum(g >= goal for g in gains.values())
            state = ("met" if met == len(gains) == planned else
                     "not met" if met < len(gains) else "met so far")
            verdicts.append(f"{what} ≥ {goal:+.0f}: {state} ({len(gains)} of {planned} seeds: "
                            f"{_signed(gains.values())})")
        lines.append(f"- **{row_name(pretext)}:** " + "; ".join(verdicts) + ".")
    return lines


def every_run(collected: dict) -> str:
    """One line per finished run and table: the numbers behind the averages."""
    lines = ["| run | seed | table | NM | BG | CL | mean |", "|---|---|---|---|---|---|---|"]
    for run, numbers in collected.items():
        if isinstance(run, FineTuning):
            where, tables = f"fine-tuned {row_name(run.row)}, {_percent(run.fraction)}", {"test": numbers}
        else:
            where, tables = f"pretrained {row_name(run.full.name)}" + (
                ", after 1 step" if run.onestep else ""), {f"zero-shot {s}": m for s, m in numbers.items()}
        for name, means in tables.items():
            lines.append(f"| {where} | {run.seed} | {name} | "
                         + " | ".join(f"{means[c]:.1f}" for c in CONDITIONS) + f" | {average(means):.1f} |")
    return "\n".join(lines)


def figure(table: dict, fractions: dict, path: pathlib.Path) -> bool:
    """Rank-1 (NM/BG/CL average) against the label fraction, log x: one line a start (the mean over
    its finished seeds) and the band from the lowest to the highest seed; a row with one fraction
    (the pool-size and steps rows) as a point with that range. False (nothing drawn) before any run finished."""
    if not any(table.values()):
        return False
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    # A row of one fraction (the pool-size and steps rows) sits a little to the right, not over the
    # others, each a step further.
    shift = {row: 1.06 ** (k + 1) for k, row in enumerate(r for r in fractions if len(fractions[r]) == 1)}
    for colour, row in zip(plt.get_cmap("tab10").colors, fractions):
        found = sorted((f, list(seeds.values())) for f, seeds in table.get(row, {}).items())
        if not found:
            continue
        x = [f * shift.get(row, 1.0) for f, _ in found]
        mean = [np.mean(v) for _, v in found]
        low, high = [min(v) for _, v in found], [max(v) for _, v in found]
        seeds = max(len(v) for _, v in found)
        label = f"{row_name(row).replace('`', '')} ({seeds} seed{'s' if seeds > 1 else ''})"
        # The lowest-to-highest seed range: a band along a row's fractions, and a bar at each point.
        ax.errorbar(x, mean, yerr=[np.subtract(mean, low), np.subtract(high, mean)], capsize=3, color=colour,
                    marker="o" if len(fractions[row]) > 1 else "s", label=label)
        if len(x) > 1:
            ax.fill_between(x, low, high, color=colour, alpha=0.15, lw=0)
    ax.set_xscale("log")
    every = every_fraction(fractions)
    ax.set_xlim(every[0] / 1.3, every[-1] * 1.3)
    ax.set_xticks(every)
    ax.set_xticklabels([_percent(f) for f in every])
    ax.minorticks_off()
    ax.set_xlabel("labelled training sequences")
    ax.set_ylabel("rank-1 %, NM/BG/CL mean (test split)")
    ax.set_title("Label efficiency: mean over seeds, band = lowest to highest seed", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def numbers(runs: Runs, plan) -> dict:
    """run -> its numbers, for the finished ones of ``plan`` (archiving any not yet archived): a
    fine-tuning's {NM, BG, CL}, a pretraining's {split: {NM, BG, CL}}."""
    return {run: condition_means(found["results.json"]) if isinstance(run, FineTuning) else
            {s: condition_means(found[f"zero_shot_{s}.json"]) for s in label_rows.SPLITS}
            for run, found in runs.collect(plan).items()}


def write_report(runs: Runs, doc: pathlib.Path, plan) -> dict:
    """Rewrites the generated section of ``doc`` (between REPORT_BEGIN and REPORT_END; a new doc is
    started if there is none) and its figure, from the finished runs of ``plan`` that are the label
    study's own (on CASIA-B the plan also holds the reproduction's rows: `report`). Returns
    run -> numbers of those runs."""
    plan = [run for run in plan if label_rows.in_label_study(run)]
    collected = numbers(runs, plan)
    real = any(run.data == label_rows.CASIA_B for run in plan)
    pretrainings, fractions, planned_seeds = _layout(plan)
    pretraining_seeds = {name: {r.seed for r in plan if isinstance(r, Pretraining) and r.name == name}
                         for name in pretrainings}
    tuned, probed = fine_tuned(collected), zero_shot(collected)
    images = doc.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    figure_name = f"casia_b_{FIGURE}" if real else FIGURE
    drawn = figure(tuned, fractions, images / figure_name)
    kinds = [("pretraining runs (with their zero-shot probes)", Pretraining), ("fine-tuning runs", FineTuning)]
    counts = "; ".join(f"{sum(isinstance(r, kind) for r in collected)} of "
                       f"{sum(isinstance(r, kind) for r in plan)} {what}" for what, kind in kinds)
    body = [
        REPORT_BEGIN,
        f"*Generated by `python tools/label_study.py{' --data=casia_b' if real else ''}`: {counts} finished.*",
        "",
        "### Zero-shot probe",
        "",
        "The pretrained network, frozen, against the same network after one pretraining step; rank-1 "
        "%, NM/BG/CL mean, on the validation subjects and on the test split (first "
        f"{rows.EVAL_FRAMES} frames). Gain = pretrained − 1 step, seed by seed.",
        "",
        zero_shot_table(probed, pretrainings, pretraining_seeds),
        "",
    ]
    by_gap = gap_table(runs, plan)
    if by_gap:
        body += [
            "Where the zero-shot rank-1 comes from: the same tables' cells grouped by how far apart the "
            "probe and gallery views are, counting a view's mirror view (θ and 180° − θ, whose "
            "silhouettes are near mirror images) as a gap of 0° and its neighbours by their distance "
            "to the nearer of the two. Rank-1 %, NM/BG/CL cells pooled; a gain's range is over the seeds.",
            "",
            by_gap,
            "",
        ]
    body += [
        "### Rank-1 against the label fraction",
        "",
        "Fine-tuned, then evaluated on the test split; rank-1 %, NM/BG/CL mean, mean ± std over the "
        "finished seeds (how many of the planned).",
        "",
        label_table(tuned, fractions, planned_seeds),
        "",
        differences_table(tuned, fractions),
        "",
    ]
    if drawn:
        body += [f"![rank-1 against the label fraction](images/{figure_name})", ""]
    body += ["Verdicts, seed by seed (a pretext beats w/o PT at a fraction when its rank-1 is higher on "
             "every seed both have finished):", "",
             *verdicts(tuned, fractions, planned_seeds), ""]
    if real:
        body += [f"The goal, at {_percent(label_rows.CASIA_B_YARDSTICK_FRACTION)} of the labels, on every "
                 f"planned seed: fine-tuned ≥ {label_rows.GOAL_FINETUNED:+.0f} over w/o PT, frozen ≥ "
                 f"{label_rows.GOAL_ZERO_SHOT:+.0f} over the 1-step twin (test split):", "",
                 *goal_verdicts(tuned, probed, planned_seeds), ""]
    body += [
             "<details><summary>Every run</summary>", "", every_run(collected), "", "</details>", REPORT_END]
    rewrite_section(doc, "\n".join(body), REPORT_BEGIN, REPORT_END, "Label efficiency")
    return collected
