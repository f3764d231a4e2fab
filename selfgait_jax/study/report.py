"""A reproduction study's numbers: the table of mean ± std over seeds beside the paper's, the paired
verdicts on the paper's claims, and the generated section of its doc (with the figures of `figures`).

A study is a declaration (`Study`): its rows, the run behind each row's seed, and the claims it
checks. `SYNTHGAIT` is the reproduction on SynthGait (docs/reproduction.md: the chains of
``configs/study.py``); `CASIA_B` the same question on real CASIA-B (docs/casia_b.md), whose rows are
runs of the label study's plan (``label_rows``: its w/o PT and `paper` rows at 40 %, and the
reproduction's rows it appends).

Rows are compared seed by seed: a seed fixes the labelled subset, the order of the batches and the
initialisation of whatever is not pretrained, so seed s of one row is compared with seed s of another.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable

import numpy as np

from selfgait_jax.data.splits import CASIA_B_CONDITIONS as CONDITIONS
from selfgait_jax.evaluation.tables import PUBLISHED
from selfgait_jax.study import figures, label_rows, rows
from selfgait_jax.study.runs import Runs, condition_means

_CASIA_B = {method: means for method, dataset, means in PUBLISHED if dataset == "CASIA-B"}
REPORT_BEGIN, REPORT_END = "<!-- study:begin -->", "<!-- study:end -->"


@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim of the paper: every (a, b) of ``pairs`` says row a beats row b."""

    title: str
    pairs: tuple
    note: str = ""  # after the differences, before the full stop
    extension: bool = False  # not a claim of the paper: its differences alone, no verdict


@dataclasses.dataclass(frozen=True)
class Study:
    """A reproduction study: its rows, the run behind each row's seed, and the claims it checks."""

    data: str  # "" (SynthGait) or label_rows.CASIA_B: names the command, the figures and the intro
    rows: dict  # row -> its name in the tables
    paper: dict  # row -> the method of the paper's tables it reproduces (None: the paper has none)
    run: Callable  # (row, seed) -> the run
    seeds: Callable  # row -> how many seeds it has
    claims: tuple  # of Claim, in the order of the verdicts
    gap_rows: tuple  # rows drawn against w/o PT per probe view
    curve_rows: tuple  # rows whose pretraining curves are drawn
    pretraining: Callable  # (row, seed) -> the run whose `metrics` is the row's pretraining curve
    intro: str  # what the table's numbers are, against the paper's
    short: dict = dataclasses.field(default_factory=lambda: {"wo_pt": "w/o PT"})  # in differences
    # (row, points): the row's NM/BG/CL mean is to come within that many points of the paper's ((): none)
    yardstick: tuple = ()

    def plan(self, names=None) -> list:
        """The runs of ``names`` (default: every row) in the order they go: seed 0 of every row, then
        seed 1, ..."""
        names = list(self.rows) if names is None else names
        return [self.run(row, seed) for seed in range(max(self.seeds(r) for r in names))
                for row in names if seed < self.seeds(row)]

    def published(self, row: str):
        """The paper's CASIA-B means NM / BG / CL of the row (rank-1 %, identical views excluded), or None."""
        method = self.paper[row]
        return tuple(_CASIA_B[method][c] for c in CONDITIONS) if method else None

    def name(self, row: str) -> str:
        return self.short.get(row, self.rows[row])


SYNTHGAIT = Study(
    data="", rows=rows.ROWS,
    paper={"wo_pt": "SG-6 w/o PT", "sg2": "SG-2", "sg4": "SG-4", "sg6": "SG-6", "sg6_no_hpm": "SG-6 w/o HPM",
           "sg6_no_mtb": "SG-6 w/o MTB", "gaitset": "GaitSet", "gaitpart": "GaitPart", "gaitset_40": None,
           "sg6_other_view": None},
    run=rows.Row, seeds=rows.seeds,
    claims=(Claim("(a) Pretraining beats w/o PT at 40 % labels", (("sg2", "wo_pt"), ("sg4", "wo_pt"), ("sg6", "wo_pt")),
                  " (NM/BG/CL average, mean over the seeds both rows have)"),
            Claim("(a, second half) The gain grows from SG-2 to SG-6", (("sg4", "sg2"), ("sg6", "sg4"))),
            Claim("(b) Removing HPM or MTB hurts", (("sg6", "sg6_no_hpm"), ("sg6", "sg6_no_mtb"))),
            Claim("", (("sg6_other_view", "wo_pt"),), extension=True)),
    gap_rows=("sg2", "sg4", "sg6", "sg6_other_view"),
    curve_rows=("sg2", "sg4", "sg6", "sg6_no_hpm", "sg6_no_mtb", "sg6_other_view"),
    pretraining=rows.Row,
    intro="The paper's numbers are **CASIA-B** at full scale, not comparable in absolute terms: compare "
          "the order and the gaps.")

# On CASIA-B: row -> (start, network, label fraction) of its fine-tuning run in label_rows' plan.
_CASIA_B_RUNS = {
    "wo_pt": ("wo_pt", "", label_rows.CASIA_B_ABLATION_FRACTION),
    "paper": ("paper", "", label_rows.CASIA_B_ABLATION_FRACTION),
    **{network: ("paper", network, label_rows.CASIA_B_ABLATION_FRACTION) for network in label_rows.NETWORKS},
    **{start: (start, "", label_rows.CASIA_B_BASELINE_FRACTION) for start in label_rows.BASELINES},
}


def _casia_b_run(row: str, seed: int):
    start, network, fraction = _CASIA_B_RUNS[row]
    return label_rows.fine_tuning(start, fraction, seed, label_rows.CASIA_B, network=network)


CASIA_B = Study(
    data=label_rows.CASIA_B,
    rows={"wo_pt": "SelfGait w/o PT", "paper": "SelfGait (`paper` pretext, training subjects)",
          "no_hpm": "SelfGait w/o HPM", "no_mtb": "SelfGait w/o MTB",
          "gaitset": "GaitSet (100 % labels)", "gaitpart": "GaitPart (100 % labels)"},
    paper={"wo_pt": "SG-6 w/o PT", "paper": "SG-6", "no_hpm": "SG-6 w/o HPM", "no_mtb": "SG-6 w/o MTB",
           "gaitset": "GaitSet", "gaitpart": "GaitPart"},
    run=_casia_b_run,
    seeds=lambda row: label_rows.SEEDS if row in ("wo_pt", "paper") else label_rows.CASIA_B_REPRODUCTION_SEEDS,
    claims=(Claim("(a) Pretraining beats w/o PT at 40 % labels", (("paper", "wo_pt"),),
                  " (NM/BG/CL average, mean over the seeds both rows have)"),
            Claim("(b) Removing HPM or MTB hurts", (("paper", "no_hpm"), ("paper", "no_mtb"))),
            Claim("GaitPart beats GaitSet (the paper's order)", (("gaitpart", "gaitset"),))),
    gap_rows=("paper", "no_hpm", "no_mtb"),
    curve_rows=("paper", "no_hpm", "no_mtb"),
    pretraining=lambda row, seed: _casia_b_run(row, seed).init,
    intro="The published numbers are the paper's on CASIA-B at full scale (its network, tens of thousands "
          "of iterations; its SelfGait pretrained on OU-MVLP, SG-6, ours on the 74 training subjects): "
          "compare the order and the gaps.",
    short={"wo_pt": "w/o PT", "paper": "SelfGait"},
    yardstick=("gaitset", 15.0))
STUDIES = {"synthgait": SYNTHGAIT, "casia_b": CASIA_B}


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


def verdicts(study: Study, table) -> list[str]:
    """A line per claim of the study (its verdict and the paired differences), then whether CL is the
    hardest condition."""
    lines = []
    for claim in study.claims:
        found = {(a, b): _better(table, a, b) for a, b in claim.pairs}
        text = "; ".join(_difference(f"{study.name(a)} − {study.name(b)}", d, w) for (a, b), (d, w) in found.items())
        if claim.extension:
            lines.append(f"- *(extension, not a claim of the paper)* {text}.")
            continue
        holds = all(w.startswith("clearly higher") for _, w in found.values())
        lines.append(f"- **{claim.title}:** {_verdict(found.values(), holds)}. {text}{claim.note}.")
    if study.yardstick:
        lines.append(_yardstick(study, table, *study.yardstick))
    hardest = []
    for row, runs in table.items():
        means = {c: np.mean([m[c] for _, m in runs]) for c in CONDITIONS}
        hardest.append(min(means, key=means.get) == "CL")
    lines.append(f"- **(c) CL is the hardest condition:** in {sum(hardest)} of {len(hardest)} rows "
                 f"CL has the lowest mean rank-1.")
    return lines


def _yardstick(study: Study, table, row: str, points: float) -> str:
    """Whether the row's NM/BG/CL mean (mean over its seeds) comes within ``points`` of the paper's."""
    paper = float(np.mean(study.published(row)))
    head = f"- **{study.rows[row]} within {points:g} points of the paper's mean ({paper:.1f}):** "
    means = _seed_means(table, row)
    if not means:
        return head + "not yet run."
    mean = float(np.mean(list(means.values())))
    gap = paper - mean
    verdict = "yes" if gap <= points else "no"
    return head + f"{verdict}: {mean:.1f}, {gap:.1f} below ({len(means)} of {study.seeds(row)} seeds)."


def markdown(study: Study, table) -> str:
    lines = ["| row | seeds | NM | BG | CL | paper (CASIA-B) NM / BG / CL |", "|---|---|---|---|---|---|"]
    for row, name in study.rows.items():
        runs = table.get(row, [])
        paper = study.published(row)
        paper_text = " / ".join(f"{v:.1f}" for v in paper) if paper else "—"
        if not runs:
            lines.append(f"| {name} | 0 of {study.seeds(row)} | not yet run | | | {paper_text} |")
            continue
        cells = [mean_std_cell([m[c] for _, m in runs]) for c in CONDITIONS]
        lines.append(f"| {name} | {len(runs)} of {study.seeds(row)} | " + " | ".join(cells)
                     + f" | {paper_text} |")
    return "\n".join(lines)


def every_run(study: Study, table) -> str:
    """One line per finished run: the numbers behind each mean ± std."""
    lines = ["| row | seed | NM | BG | CL | mean |", "|---|---|---|---|---|---|"]
    for row, name in study.rows.items():
        for seed, means in table.get(row, []):
            values = [means[c] for c in CONDITIONS]
            lines.append(f"| {name} | {seed} | " + " | ".join(f"{v:.1f}" for v in values)
                         + f" | {np.mean(values):.1f} |")
    return "\n".join(lines)


def collect(runs: Runs, study: Study) -> dict:
    """row -> list of (seed, {NM, BG, CL}) of the finished runs, seeds in order (archiving any not
    yet archived)."""
    found = runs.collect(study.plan())
    table = {}
    for row in study.rows:
        for seed in range(study.seeds(row)):
            results = found.get(study.run(row, seed))
            if results is not None:
                table.setdefault(row, []).append((seed, condition_means(results["results.json"])))
    return table


def per_view(runs: Runs, study: Study, row: str) -> dict:
    """seed -> (views, {condition: rank-1 per probe view}) of the row's finished runs."""
    found = {s: runs.results(study.run(row, s)) for s in range(study.seeds(row))}
    return {s: (r["views"], {c: np.asarray(r["conditions"][c]["rank1_per_probe_view"], float)
                             for c in CONDITIONS}) for s, r in found.items() if r}


def view_gaps(runs: Runs, study: Study = SYNTHGAIT):
    """(views, rows, {condition: [rows, views] of row − w/o PT rank-1}) over the finished gap rows,
    each the mean over the seeds both rows have (compared seed by seed, as the verdicts are), or
    None before w/o PT and one of them share a finished seed."""
    base = per_view(runs, study, "wo_pt")
    shown, gaps, views = [], {c: [] for c in CONDITIONS}, None
    for row in study.gap_rows:
        mine = per_view(runs, study, row)
        shared = sorted(set(mine) & set(base))
        if not shared:
            continue
        shown.append(row)
        views = base[shared[0]][0]
        for c in CONDITIONS:
            gaps[c].append(np.mean([mine[s][1][c] - base[s][1][c] for s in shared], axis=0))
    if not shown:
        return None
    return views, shown, {c: np.array(g) for c, g in gaps.items()}


def curves(runs: Runs, study: Study, table) -> dict:
    """row name -> the pretraining metrics of each finished seed, for the study's curve rows."""
    return {study.rows[row]: [runs.pretrain_metrics(study.pretraining(row, seed)) for seed, _ in table.get(row, [])]
            for row in study.curve_rows}


def write_report(runs: Runs, doc: pathlib.Path, study: Study = SYNTHGAIT) -> dict:
    """Rewrites the generated section of ``doc`` (between REPORT_BEGIN and REPORT_END; a new doc is
    started if there is none) and its figures in doc's images/ folder. Returns the table."""
    table = collect(runs, study)
    images = doc.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    prefix = f"{study.data}_" if study.data else ""
    bars, curve_file, gap_file = (f"{prefix}reproduction_{what}.png" for what in ("bars", "curves", "view_gaps"))
    dataset = "CASIA-B" if study.data else "SynthGait-B"
    figures.bar_chart(table, study.rows, dataset, images / bars)
    has_curves = figures.curves(curves(runs, study, table), images / curve_file)
    has_gaps = figures.view_gap_heatmaps(view_gaps(runs, study), images / gap_file, study.rows)
    finished = sum(len(v) for v in table.values())
    planned = sum(study.seeds(r) for r in study.rows)
    data_flag = f" --data={study.data}" if study.data else ""
    body = [
        REPORT_BEGIN,
        f"*Generated by `python tools/reproduce.py{data_flag} --out={runs.out.name}`: {finished} of {planned} runs "
        "finished.*",
        "",
        f"Mean rank-1 % over the 11 probe views (identical views excluded), mean ± std over seeds. {study.intro}",
        "",
        markdown(study, table),
        "",
        f"![rank-1 per row and condition](images/{bars})",
        "",
    ]
    if has_curves:
        body += [f"![pretraining curves](images/{curve_file})", ""]
    if has_gaps:
        body += ["Where pretraining changes the result: each row's rank-1 minus w/o PT's, per probe view "
                 "(compared seed by seed, averaged over the seeds both rows have).", "",
                 f"![rank-1 minus w/o PT per probe view](images/{gap_file})", ""]
    body += ["Verdicts from these numbers. Rows are compared seed by seed (a seed fixes the labelled "
             "40 %, the batch order and the initialisation of what is not pretrained); a difference is "
             "*clear* when the mean of the per-seed differences exceeds twice its standard error:", "",
             *verdicts(study, table), "",
             "<details><summary>Every run</summary>", "", every_run(study, table), "", "</details>", REPORT_END]
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
