"""The validation learning curve of one or more runs: the probe's rank-1 (``probe.every``) against
the training step, as a table and a picture, to see how far from convergence a run stops.

    python tools/learning_curve.py runs/a/finetune runs/b/finetune --names=w32,w64 --out=curve.png

Each argument is a training workdir (or its metrics.jsonl) whose run logged ``probe/<COND>_rank1``.
Prints, per run, the NM/BG/CL rank-1 and their mean at every probed step, and draws the mean (and
each condition, thin) against the step. With a constant learning rate, the probe at step N is what
a run of N steps would end with, so one long run answers "how many steps?" for every shorter one.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

CONDITIONS = ("NM", "BG", "CL")


def probe_points(metrics: pathlib.Path) -> list[tuple[int, dict]]:
    """(step, {condition: rank-1}) for every record of ``metrics`` that holds the three probes, by step
    (a resumed run may log a step twice: the later record wins)."""
    points = {}
    for line in metrics.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        keys = [f"probe/{c}_rank1" for c in CONDITIONS]
        if all(k in record for k in keys):
            points[int(record["step"])] = {c: float(record[k]) for c, k in zip(CONDITIONS, keys)}
    return sorted(points.items())


def table(name: str, points) -> str:
    lines = [f"{name}", "| step | NM | BG | CL | mean |", "|---|---|---|---|---|"]
    for step, rank1 in points:
        mean = sum(rank1.values()) / len(rank1)
        lines.append(f"| {step} | " + " | ".join(f"{rank1[c]:.1f}" for c in CONDITIONS) + f" | {mean:.1f} |")
    return "\n".join(lines)


def draw(curves: dict, path: pathlib.Path, title: str) -> None:
    """One colour a run: its NM/BG/CL mean (thick, dots) and each condition (thin, dashed)."""
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

    fig, ax = plt.subplots(figsize=(7, 4.2))
    styles = {"NM": ":", "BG": "--", "CL": "-."}
    for colour, (name, points) in zip(plt.get_cmap("tab10").colors, curves.items()):
        steps = [s for s, _ in points]
        ax.plot(steps, [sum(r.values()) / len(r) for _, r in points], "o-", color=colour, lw=2,
                label=f"{name}: NM/BG/CL mean")
        for condition in CONDITIONS:
            ax.plot(steps, [r[condition] for _, r in points], styles[condition], color=colour, lw=0.8,
                    label=f"{name}: {condition}" if len(curves) == 1 else None)
    ax.set_xlabel("training step")
    ax.set_ylabel("validation rank-1 %")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="training workdirs (or metrics.jsonl files) with a validation probe")
    parser.add_argument("--names", default="", help="comma-separated names, one a run (default: the folder names)")
    parser.add_argument("--out", default="", help="the picture to write (.png; default: none, the tables only)")
    parser.add_argument("--title", default="Validation learning curve", help="the picture's title")
    args = parser.parse_args(argv)
    names = [n for n in args.names.split(",") if n] or [pathlib.Path(r).name for r in args.runs]
    if len(names) != len(args.runs):
        print(f"error: --names gives {len(names)} names for {len(args.runs)} runs", file=sys.stderr)
        return 2
    curves = {}
    for name, run in zip(names, args.runs):
        path = pathlib.Path(run)
        metrics = path if path.suffix == ".jsonl" else path / "metrics.jsonl"
        if not metrics.is_file():
            print(f"error: {metrics}: no such file (a training workdir holds metrics.jsonl)", file=sys.stderr)
            return 1
        points = probe_points(metrics)
        if not points:
            print(f"error: {metrics}: no validation probe logged (train with --config.probe.every=N)",
                  file=sys.stderr)
            return 1
        curves[name] = points
        print(table(name, points) + "\n")
    if args.out:
        draw(curves, pathlib.Path(args.out), args.title)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
