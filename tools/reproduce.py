"""The reproduction study: every row of the paper's Tables 1 and 3 at the scale of configs/study.py,
several seeds each, then docs/reproduction.md with the table, a bar chart and the pretraining curves.

    python tools/reproduce.py --out=runs/study              # run what is missing, then report
    python tools/reproduce.py --out=runs/study --report     # only rewrite the report
    python tools/reproduce.py --out=runs/study --rows=wo_pt,sg6 --max_seeds=1

Resumable: a run whose evaluation exists is skipped, and an interrupted one resumes from its last
checkpoint (each run is `python -m selfgait_jax.main --config=configs/study.py:ROW,SEED`). A finished
run's results.json and pretraining metrics are also copied into the repository
(docs/reproduction/runs/ROW/seedSEED/), which counts as finished too: commit that folder and the
study continues in another checkout or session without redoing those runs. The report is rewritten
after every finished run. Runs go seed by seed (every row's seed 0 first), so a partial study
already compares all rows.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from configs import study  # noqa: E402  pylint: disable=g-import-not-at-top
from selfgait_jax.data.protocols import CASIA_B_CONDITIONS as CONDITIONS  # noqa: E402
# The paper's CASIA-B means (Tables 1 and 3; rank-1 %, identical views excluded). Table 3 gives
# SG-6 as 93.2 / 89.7 / 81.5 where Table 1 gives 93.5 / 90.1 / 81.3; we quote Table 1.
PAPER = {
    "wo_pt": (85.5, 79.8, 73.6), "sg2": (89.1, 81.3, 72.2), "sg4": (92.6, 86.4, 79.0),
    "sg6": (93.5, 90.1, 81.3), "sg6_no_hpm": (73.3, 63.8, 52.7), "sg6_no_mtb": (81.6, 68.4, 52.7),
    "gaitset": (95.0, 87.2, 70.4), "gaitpart": (96.2, 91.5, 78.7), "gaitset_40": None,
    "sg6_other_view": None,
}
REPORT_BEGIN, REPORT_END = "<!-- study:begin -->", "<!-- study:end -->"
ARCHIVE = ROOT / "docs" / "reproduction" / "runs"  # finished runs' results, kept in the repository


def plan(rows, max_seeds=None):
    """(row, seed) in the order they run: seed 0 of every row, then seed 1, ..."""
    most = max(study.seeds(r) for r in rows)
    out = []
    for seed in range(most if max_seeds is None else min(most, max_seeds)):
        out += [(row, seed) for row in rows if seed < study.seeds(row)]
    return out


def run_dir(out: pathlib.Path, row: str, seed: int) -> pathlib.Path:
    return out / row / f"seed{seed}"


def _results_file(workdir: pathlib.Path):
    """The run's results.json (its fine-tuning stage's last evaluation), or None."""
    found = [p for p in (workdir / "finetune" / "eval").glob("*/results.json") if p.parent.name.isdigit()]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


def archive_dir(archive: pathlib.Path, row: str, seed: int) -> pathlib.Path:
    return archive / row / f"seed{seed}"


def archive_run(out: pathlib.Path, row: str, seed: int, archive: pathlib.Path = ARCHIVE) -> bool:
    """Copies a finished run's results.json and pretraining metrics.jsonl into `archive`."""
    workdir = run_dir(out, row, seed)
    results = _results_file(workdir)
    if results is None:
        return False
    target = archive_dir(archive, row, seed)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results, target / "results.json")
    metrics = workdir / "pretrain" / "metrics.jsonl"
    if metrics.is_file():
        shutil.copyfile(metrics, target / "pretrain_metrics.jsonl")
    return True


def results_of(out: pathlib.Path, row: str, seed: int, archive: pathlib.Path = ARCHIVE):
    """A finished run's results dictionary, from its workdir or from the archive; None if unfinished."""
    found = _results_file(run_dir(out, row, seed))
    if found is None:
        found = archive_dir(archive, row, seed) / "results.json"
    return json.loads(found.read_text()) if found.is_file() else None


def pretrain_metrics(out: pathlib.Path, row: str, seed: int, archive: pathlib.Path = ARCHIVE):
    path = run_dir(out, row, seed) / "pretrain" / "metrics.jsonl"
    if not path.is_file():
        path = archive_dir(archive, row, seed) / "pretrain_metrics.jsonl"
    return _records(path)


def run_one(out: pathlib.Path, row: str, seed: int, archive: pathlib.Path = ARCHIVE) -> bool:
    workdir = run_dir(out, row, seed)
    if results_of(out, row, seed, archive) is not None:
        return True
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "selfgait_jax.main",
               f"--config={ROOT / 'configs' / 'study.py'}:{row},{seed}", f"--workdir={workdir}"]
    print(f"[reproduce] {row} seed {seed} → {workdir}", flush=True)
    start = time.time()
    with open(workdir / "log.txt", "a", encoding="utf-8") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    print(f"[reproduce] {row} seed {seed}: exit {done.returncode} after "
          f"{(time.time() - start) / 60:.1f} min", flush=True)
    return done.returncode == 0 and archive_run(out, row, seed, archive)


def collect(out: pathlib.Path, archive: pathlib.Path = ARCHIVE) -> dict:
    """row -> list of (seed, {NM, BG, CL}) of the finished runs (archiving any not yet archived)."""
    table = {}
    for row in study.ROWS:
        for seed in range(study.seeds(row)):
            archive_run(out, row, seed, archive)
            results = results_of(out, row, seed, archive)
            if results is not None:
                means = {c: results["conditions"][c]["mean"] for c in CONDITIONS}
                table.setdefault(row, []).append((seed, means))
    return table


def _stats(values):
    values = np.asarray(values, float)
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return float(np.mean(values)), spread


def _cell(values):
    mean, spread = _stats(values)
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
    text = "; ".join(_difference(f"{study.ROWS[r]} − w/o PT", d, w) for r, (d, w) in gains.items())
    holds = all(w.startswith("clearly higher") for _, w in gains.values())
    lines.append(f"- **(a) Pretraining beats w/o PT at 40 % labels:** {_verdict(gains.values(), holds)}. "
                 f"{text} (NM/BG/CL average, mean over the seeds both rows have).")
    steps = {(a, b): _better(table, b, a) for a, b in (("sg2", "sg4"), ("sg4", "sg6"))}
    text = "; ".join(_difference(f"{study.ROWS[b]} − {study.ROWS[a]}", d, w) for (a, b), (d, w) in steps.items())
    holds = all(w.startswith("clearly higher") for _, w in steps.values())
    lines.append(f"- **(a, second half) The gain grows from SG-2 to SG-6:** {_verdict(steps.values(), holds)}. "
                 f"{text}.")
    hurts = {r: _better(table, "sg6", r) for r in ("sg6_no_hpm", "sg6_no_mtb")}
    text = "; ".join(_difference(f"SG-6 − {study.ROWS[r]}", d, w) for r, (d, w) in hurts.items())
    holds = all(w.startswith("clearly higher") for _, w in hurts.values())
    lines.append(f"- **(b) Removing HPM or MTB hurts:** {_verdict(hurts.values(), holds)}. {text}.")
    d, w = _better(table, "sg6_other_view", "wo_pt")
    lines.append(f"- *(extension, not a claim of the paper)* "
                 f"{_difference(study.ROWS['sg6_other_view'] + ' − w/o PT', d, w)}.")
    hardest = []
    for row, runs in table.items():
        means = {c: np.mean([m[c] for _, m in runs]) for c in CONDITIONS}
        hardest.append(min(means, key=means.get) == "CL")
    lines.append(f"- **(c) CL is the hardest condition:** in {sum(hardest)} of {len(hardest)} rows "
                 f"CL has the lowest mean rank-1.")
    return lines


def markdown(table) -> str:
    lines = ["| row | seeds | NM | BG | CL | paper (CASIA-B) NM / BG / CL |", "|---|---|---|---|---|---|"]
    for row, name in study.ROWS.items():
        runs = table.get(row, [])
        paper = PAPER[row]
        paper_text = " / ".join(f"{v:.1f}" for v in paper) if paper else "—"
        if not runs:
            lines.append(f"| {name} | 0 of {study.seeds(row)} | not yet run | | | {paper_text} |")
            continue
        cells = [_cell([m[c] for _, m in runs]) for c in CONDITIONS]
        lines.append(f"| {name} | {len(runs)} of {study.seeds(row)} | " + " | ".join(cells)
                     + f" | {paper_text} |")
    return "\n".join(lines)


def every_run(table) -> str:
    """One line per finished run: the numbers behind each mean ± std."""
    lines = ["| row | seed | NM | BG | CL | mean |", "|---|---|---|---|---|---|"]
    for row, name in study.ROWS.items():
        for seed, means in table.get(row, []):
            values = [means[c] for c in CONDITIONS]
            lines.append(f"| {name} | {seed} | " + " | ".join(f"{v:.1f}" for v in values)
                         + f" | {np.mean(values):.1f} |")
    return "\n".join(lines)


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend (imported late: only the report draws)."""
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    return plt


def bar_chart(table, path: pathlib.Path):
    plt = _pyplot()

    rows = list(study.ROWS)
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.27
    for k, cond in enumerate(CONDITIONS):
        means, errs = [], []
        for row in rows:
            values = [m[cond] for _, m in table.get(row, [])]
            mean, spread = _stats(values) if values else (np.nan, np.nan)
            means.append(mean)
            errs.append(0 if np.isnan(spread) else spread)
        x = np.arange(len(rows)) + (k - 1) * width
        ax.bar(x, means, width, yerr=errs, capsize=2, label=cond)
        for row_x, row in zip(x, rows):  # every seed as a dot
            ax.scatter([row_x] * len(table.get(row, [])), [m[cond] for _, m in table.get(row, [])],
                       s=6, color="black", zorder=3)
    ax.set_xticks(np.arange(len(rows)))
    ax.set_xticklabels([study.ROWS[r] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("rank-1 % (SynthGait-B, identical views excluded)")
    ax.set_title("Reproduction study: mean over seeds, bars = std over seeds, dots = seeds")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: no bar is hidden
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


GAP_ROWS = ("sg2", "sg4", "sg6", "sg6_other_view")  # each against w/o PT, per probe view


def _per_view(out: pathlib.Path, row: str, archive: pathlib.Path = ARCHIVE) -> dict:
    """seed -> (views, {condition: rank-1 per probe view}) of the row's finished runs."""
    found = {s: results_of(out, row, s, archive) for s in range(study.seeds(row))}
    return {s: (r["views"], {c: np.asarray(r["conditions"][c]["rank1_per_probe_view"], float)
                             for c in CONDITIONS}) for s, r in found.items() if r}


def view_gaps(out: pathlib.Path, archive: pathlib.Path = ARCHIVE):
    """(views, rows, {condition: [rows, views] of row − w/o PT rank-1}) over the finished GAP_ROWS,
    each the mean over the seeds both rows have (compared seed by seed, as the verdicts are), or
    None before w/o PT and one of them share a finished seed."""
    base = _per_view(out, "wo_pt", archive)
    rows, gaps, views = [], {c: [] for c in CONDITIONS}, None
    for row in GAP_ROWS:
        mine = _per_view(out, row, archive)
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


def view_gap_heatmaps(out: pathlib.Path, path: pathlib.Path, archive: pathlib.Path = ARCHIVE) -> bool:
    """Heatmaps of (row − w/o PT) rank-1 per probe view and condition: where pretraining helps or hurts."""
    plt = _pyplot()

    found = view_gaps(out, archive)
    if found is None:
        return False
    views, rows, gaps = found
    limit = max(float(np.abs(g).max()) for g in gaps.values()) or 1.0
    fig, axes = plt.subplots(1, len(CONDITIONS), figsize=(15, 1.2 + 0.45 * len(rows)), sharey=True)
    for ax, cond in zip(axes, CONDITIONS):
        image = ax.imshow(gaps[cond], cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for (i, j), value in np.ndenumerate(gaps[cond]):
            ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(views)))
        ax.set_xticklabels(views, fontsize=7)
        ax.set_xlabel("probe view")
        ax.set_title(f"{cond}: rank-1 − w/o PT (points)")
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels([study.ROWS[r] for r in rows], fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def _records(path: pathlib.Path):
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def curves(out: pathlib.Path, table, path: pathlib.Path, archive: pathlib.Path = ARCHIVE) -> bool:
    """Pretraining loss, collapse monitor and validation probe against steps, every finished SG run
    (one colour a row, one line a seed)."""
    plt = _pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    drawn = False
    pretrained = ("sg2", "sg4", "sg6", "sg6_no_hpm", "sg6_no_mtb", "sg6_other_view")
    for colour, row in zip(plt.get_cmap("tab10").colors, pretrained):  # one colour a row
        finished = [seed for seed, _ in table.get(row, [])]
        for seed in finished:  # as in the table: a run still going is left out
            records = pretrain_metrics(out, row, seed, archive)
            train = [r for r in records if "loss" in r]
            probe = [r for r in records if "probe/NM_rank1" in r]
            if not train:
                continue
            drawn = True
            label = f"{study.ROWS[row]} ({len(finished)} seed{'s' if len(finished) > 1 else ''})" \
                if seed == finished[0] else None
            steps = [r["step"] for r in train]
            axes[0].plot(steps, [r["loss"] for r in train], label=label, lw=1, color=colour)
            axes[1].plot(steps, [r["projection_std"] for r in train], label=label, lw=1, color=colour)
            if probe:
                axes[2].plot([r["step"] for r in probe],
                             [np.mean([r[f"probe/{c}_rank1"] for c in CONDITIONS]) for r in probe],
                             marker="o", label=label, lw=1, color=colour)
    if not drawn:
        plt.close(fig)
        return False
    axes[0].set_title("BYOL loss")
    axes[1].set_title("collapse monitor: projection std")
    axes[1].axhline(1 / np.sqrt(study.WIDTH), color="grey", ls="--", lw=0.8)
    axes[2].set_title("validation probe: rank-1, NM/BG/CL mean")
    for ax in axes:
        ax.set_xlabel("pretraining step")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(out: pathlib.Path, doc: pathlib.Path, archive: pathlib.Path = ARCHIVE):
    table = collect(out, archive)
    images = doc.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    bar_chart(table, images / "reproduction_bars.png")
    has_curves = curves(out, table, images / "reproduction_curves.png", archive)
    has_gaps = view_gap_heatmaps(out, images / "reproduction_view_gaps.png", archive)
    finished = sum(len(v) for v in table.values())
    planned = sum(study.seeds(r) for r in study.ROWS)
    body = [
        REPORT_BEGIN,
        f"*Generated by `python tools/reproduce.py --out={out.name}`: {finished} of {planned} runs "
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
    generated = "\n".join(body)
    text = doc.read_text() if doc.is_file() else f"# Reproduction study\n\n{REPORT_BEGIN}\n{REPORT_END}\n"
    if REPORT_BEGIN not in text or REPORT_END not in text:
        raise ValueError(f"{doc} has no {REPORT_BEGIN} ... {REPORT_END} section to rewrite")
    head, rest = text.split(REPORT_BEGIN, 1)
    tail = rest.split(REPORT_END, 1)[1]
    doc.write_text(head + generated + tail)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder of the study's runs (one per row and seed)")
    parser.add_argument("--doc", default=str(ROOT / "docs" / "reproduction.md"),
                        help="the report whose generated section is rewritten (default: docs/reproduction.md)")
    parser.add_argument("--rows", default=",".join(study.ROWS),
                        help="comma-separated rows to run (default: all, %(default)s)")
    parser.add_argument("--max_seeds", type=int, default=None,
                        help="run at most this many seeds a row (default: every seed the study lists)")
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument("--archive", default=str(ARCHIVE),
                        help="where finished runs' results are kept in the repository (default: "
                             "docs/reproduction/runs)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = sorted(set(rows) - set(study.ROWS))
    if unknown:
        print(f"error: unknown rows {unknown}; rows are {sorted(study.ROWS)}", file=sys.stderr)
        return 2
    archive = pathlib.Path(args.archive)
    failed = []
    if not args.report:
        todo = plan(rows, args.max_seeds)
        for k, (row, seed) in enumerate(todo, 1):
            print(f"[reproduce] run {k}/{len(todo)}", flush=True)
            if not run_one(out, row, seed, archive):
                failed.append(f"{row} seed {seed} (see {run_dir(out, row, seed) / 'log.txt'})")
            write_report(out, pathlib.Path(args.doc), archive)
    write_report(out, pathlib.Path(args.doc), archive)
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
