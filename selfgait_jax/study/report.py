"""The study's numbers: the table of mean ± std over seeds, the paired verdicts on the paper's claims,
and the generated section of docs/reproduction.md (with the figures of `figures`).

Rows are compared seed by seed: a seed fixes the labelled 40 %, the order of the batches and the
initialisation of whatever is not pretrained, so seed s of one row is compared with seed s of another.
"""

from __future__ import annotations

import pathlib

import numpy as np

from selfgait_jax.data.splits import CASIA_B_CONDITIONS as CONDITIONS
from selfgait_jax.evaluation.tables import PUBLISHED
from selfgait_jax.study import figures
from selfgait_jax.study.rows import ROWS, seeds
from selfgait_jax.study.runs import Runs

# row -> the method of the paper's tables it reproduces (None: a row the paper does not have)
PAPER_METHOD = {
    "wo_pt": "SG-6 w/o PT", "sg2": "SG-2", "sg4": "SG-4", "sg6": "SG-6", "sg6_no_hpm": "SG-6 w/o HPM",
    "sg6_no_mtb": "SG-6 w/o MTB", "gaitset": "GaitSet", "gaitpart": "GaitPart", "gaitset_40": None,
    "sg6_other_view": None,
}
_CASIA_B = {method: means for method, dataset, means in PUBLISHED if dataset == "CASIA-B"}
# row -> the paper's CASIA-B means NM / BG / CL (rank-1 %, identical views excluded), or None
PAPER = {row: tuple(_CASIA_B[m][c] for c in CONDITIONS) if m else None for row, m in PAPER_METHOD.items()}
REPORT_BEGIN, REPORT_END = "<!-- study:begin -->", "<!-- study:end -->"


def mean_and_std(values):
    values = np.asarray(values, float)
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return float(np.mean(values)), spread


def mean_std_cell(values):
    """"mean ± std" of the seeds' values (sample std), the mean alone for one seed."""
    mean, spread = mean_and_std(values)
    return f"{mean:.1f}" if np.isnan(spread) else f"{mean:.1f} ± {spread:.1f}"


def _seed_means(table, row) -> dict:
    """seed -> the NM/BG/CL average of that finished run of the row."""
    return {seed: float(np.mean([m[c] for c in CONDITIONS])) for seed, m in table.get(row, [])}


def _better(table, a, b):
    """'a > b' judged seed by seed: a seed fixes the labelled 40 %, the order of the batches and
    the initialisation of whatever is not pretrained, so seed s of row a is compared with seed s of
    row b. A difference is clear when the mean of the per-seed differences exceeds twice its
    standard error. Returns (mean difference, verdict words)."""
    ma, mb = _seed_means(table, a), _seed_means(table, b)
    if not (ma and mb):
        return float("nan"), "not yet run"
    diffs = [ma[s] - mb[s] for s in sorted(set(ma) & set(mb))]
    diff = float(np.mean(diffs))
    if len(diffs) < 2:
        return diff, "higher (one seed: no spread yet)" if diff > 0 else "lower (one seed: no spread yet)"
    per_seed = ", ".join(f"{d:+.1f}" for d in diffs)
    se = float(np.std(diffs, ddof=1) / np.sqrt(len(diffs)))
    if diff > 2 * se:
        return diff, f"clearly higher; seed by seed {per_seed}"
    if diff < -2 * se:
        return diff, f"clearly lower; seed by seed {per_seed}"
    return diff, f"within the seeds' spread; seed by seed {per_seed}"


def _difference(name, diff, word):
    return f"{name}: {word}" if np.isnan(diff) else f"{name} = {diff:+.1f} ({word})"


def _verdict(comparisons, holds: bool) -> str:
    """'holds' / 'does not hold' once every compared row has a seed with spread; before that the
    direction so far, marked provisional."""
    words = [w for _, w in comparisons]
    if any(w == "not yet run" for w in words):
        return "not decided yet (rows missing)"
    if any("one seed" in w for w in words):  # so far: every difference points the claimed way
        higher = all(w.startswith(("higher", "clearly higher")) for w in words)
        return "provisional (one seed): " + ("holds so far" if higher else "does not hold so far")
    return "holds" if holds else "does not hold"


def verdicts(table) -> list[str]:
    lines = []
    gains = {r: _better(table, r, "wo_pt") for r in ("sg2", "sg4", "sg6")}
    text = "; ".join(_difference(f"{ROWS[r]} − w/o PT", d, w) for r, (d, w) in gains.items())
    holds = all(w.startswith("clearly higher") for _, w in gains.values())
    lines.append(f"- **(a) Pretraining beats w/o PT at 40 % labels:** {_verdict(gains.values(), holds)}. "
                 f"{text} (NM/BG/CL average, mean over the seeds both rows have).")
    steps = {(a, b): _better(table, b, a) for a, b in (("sg2", "sg4"), ("sg4", "sg6"))}
    text = "; ".join(_difference(f"{ROWS[b]} − {ROWS[a]}", d, w) for (a, b), (d, w) in steps.items())
    holds = all(w.startswith("clearly higher") for _, w in steps.values())
    lines.append(f"- **(a, second half) The gain grows from SG-2 to SG-6:** {_verdict(steps.values(), holds)}. "
                 f"{text}.")
    hurts = {r: _better(table, "sg6", r) for r in ("sg6_no_hpm", "sg6_no_mtb")}
    text = "; ".join(_difference(f"SG-6 − {ROWS[r]}", d, w) for r, (d, w) in hurts.items())
    holds = all(w.startswith("clearly higher") for _, w in hurts.values())
    lines.append(f"- **(b) Removing HPM or MTB hurts:** {_verdict(hurts.values(), holds)}. {text}.")
    d, w = _better(table, "sg6_other_view", "wo_pt")
    lines.append(f"- *(extension, not a claim of the paper)* "
                 f"{_difference(ROWS['sg6_other_view'] + ' − w/o PT', d, w)}.")
    hardest = []
    for row, runs in table.items():
        means = {c: np.mean([m[c] for _, m in runs]) for c in CONDITIONS}
        hardest.append(min(means, key=means.get) == "CL")
    lines.append(f"- **(c) CL is the hardest condition:** in {sum(hardest)} of {len(hardest)} rows "
                 f"CL has the lowest mean rank-1.")
    return lines


def markdown(table) -> str:
    lines = ["| row | seeds | NM | BG | CL | paper (CASIA-B) NM / BG / CL |", "|---|---|---|---|---|---|"]
    for row, name in ROWS.items():
        runs = table.get(row, [])
        paper = PAPER[row]
        paper_text = " / ".join(f"{v:.1f}" for v in paper) if paper else "—"
        if not runs:
            lines.append(f"| {name} | 0 of {seeds(row)} | not yet run | | | {paper_text} |")
            continue
        cells = [mean_std_cell([m[c] for _, m in runs]) for c in CONDITIONS]
        lines.append(f"| {name} | {len(runs)} of {seeds(row)} | " + " | ".join(cells)
                     + f" | {paper_text} |")
    return "\n".join(lines)


def every_run(table) -> str:
    """One line per finished run: the numbers behind each mean ± std."""
    lines = ["| row | seed | NM | BG | CL | mean |", "|---|---|---|---|---|---|"]
    for row, name in ROWS.items():
        for seed, means in table.get(row, []):
            values = [means[c] for c in CONDITIONS]
            lines.append(f"| {name} | {seed} | " + " | ".join(f"{v:.1f}" for v in values)
                         + f" | {np.mean(values):.1f} |")
    return "\n".join(lines)


GAP_ROWS = ("sg2", "sg4", "sg6", "sg6_other_view")  # each against w/o PT, per probe view


def view_gaps(runs: Runs):
    """(views, rows, {condition: [rows, views] of row − w/o PT rank-1}) over the finished GAP_ROWS,
    each the mean over the seeds both rows have (compared seed by seed, as the verdicts are), or
    None before w/o PT and one of them share a finished seed."""
    base = runs.per_view("wo_pt")
    rows, gaps, views = [], {c: [] for c in CONDITIONS}, None
    for row in GAP_ROWS:
        mine = runs.per_view(row)
        shared = sorted(set(mine) & set(base))
        if not shared:
            continue
        rows.append(row)
        views = base[shared[0]][0]
        for c in CONDITIONS:
            gaps[c].append(np.mean([mine[s][1][c] - base[s][1][c] for s in shared], axis=0))
    if not rows:
        return None
    return views, rows, {c: np.array(g) for c, g in gaps.items()}


def write_report(runs: Runs, doc: pathlib.Path) -> dict:
    """Rewrites the generated section of ``doc`` (between REPORT_BEGIN and REPORT_END; a new doc is
    started if there is none) and its figures in doc's images/ folder. Returns the table."""
    table = runs.collect()
    images = doc.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    figures.bar_chart(table, images / "reproduction_bars.png")
    has_curves = figures.curves(runs, table, images / "reproduction_curves.png")
    has_gaps = figures.view_gap_heatmaps(view_gaps(runs), images / "reproduction_view_gaps.png")
    finished = sum(len(v) for v in table.values())
    planned = sum(seeds(r) for r in ROWS)
    body = [
        REPORT_BEGIN,
        f"*Generated by `python tools/reproduce.py --out={runs.out.name}`: {finished} of {planned} runs "
        "finished.*",
        "",
        "Mean rank-1 % over the 11 probe views (identical views excluded), mean ± std over seeds. "
        "The paper's numbers are **CASIA-B** at full scale, not comparable in absolute terms: "
        "compare the order and the gaps.",
        "",
        markdown(table),
        "",
        "![rank-1 per row and condition](images/reproduction_bars.png)",
        "",
    ]
    if has_curves:
        body += ["![pretraining curves](images/reproduction_curves.png)", ""]
    if has_gaps:
        body += ["Where pretraining changes the result: each row's rank-1 minus w/o PT's, per probe view "
                 "(compared seed by seed, averaged over the seeds both rows have).", "",
                 "![rank-1 minus w/o PT per probe view](images/reproduction_view_gaps.png)", ""]
    body += ["Verdicts from these numbers. Rows are compared seed by seed (a seed fixes the labelled "
             "40 %, the batch order and the initialisation of what is not pretrained); a difference is "
             "*clear* when the mean of the per-seed differences exceeds twice its standard error:", "",
             *verdicts(table), "",
             "<details><summary>Every run</summary>", "", every_run(table), "", "</details>", REPORT_END]
    rewrite_section(doc, "\n".join(body), REPORT_BEGIN, REPORT_END, "Reproduction study")
    return table


def rewrite_section(doc: pathlib.Path, generated: str, begin: str, end: str, title: str) -> None:
    """Replaces what lies between ``begin`` and ``end`` in ``doc`` (both markers included) with
    ``generated``, which starts and ends with them; a missing doc is started with ``title``. A doc
    without the markers is an error, never overwritten."""
    text = doc.read_text() if doc.is_file() else f"# {title}\n\n{begin}\n{end}\n"
    if begin not in text or end not in text:
        raise ValueError(f"{doc} has no {begin} ... {end} section to rewrite")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    doc.write_text(head + generated + tail)
