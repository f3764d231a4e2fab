"""Running a study: every run of its plan in order, each a few subprocesses, the report rewritten after
every run made.

A run is trained by ``python -m selfgait_jax.main --config=configs/<run.config>.py:<run.spec>`` in its
workdir (with the data root's overrides); one that starts from another run (``run.init``) has that
one trained first and gets ``--config.finetune.init_from=`` its workdir; a run with zero-shot probes
(``run.probes``) is then evaluated frozen by ``tools/evaluate.py`` on each split. Each step is skipped
when what it makes exists, and an interrupted training resumes from its checkpoint, so a study can
stop and go on at any time; a study that is stopped, even by SIGKILL, stops the training it waits for
(on Linux).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib
import signal
import subprocess
import sys
import time

from selfgait_jax.study import label_rows, rows
from selfgait_jax.study.runs import Runs


def run_logged(command: list[str], repository: pathlib.Path, workdir: pathlib.Path, what: str,
               tag: str, env: dict | None = None) -> bool:
    """Runs ``command`` in the repository (in ``env``, else this process's environment), its output
    appended to ``workdir``/log.txt, with a line before and after (``[tag] what``, the exit status and
    the minutes it took). True if it exited 0."""
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"[{tag}] {what} → {workdir}", flush=True)
    start = time.time()
    with open(workdir / "log.txt", "a", encoding="utf-8") as log:
        done = subprocess.run(command, cwd=repository, stdout=log, stderr=subprocess.STDOUT, env=env,
                              preexec_fn=_stops_with_parent(os.getpid()))
    print(f"[{tag}] {what}: exit {done.returncode} after {(time.time() - start) / 60:.1f} min", flush=True)
    return done.returncode == 0


def _linux_prctl():
    """libc's prctl where there is one (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _linux_prctl()
_PR_SET_PDEATHSIG = 1


def _stops_with_parent(parent: int):
    """What a training child runs before it starts, on Linux: the kernel sends it SIGTERM when the
    study that started it dies, however it dies (``kill``, SIGKILL, a scheduler's time limit). Left
    behind, the training would go on in its workdir, and the study started again would find that
    workdir in use, fail the run and leave out every run that starts from it. The training resumes
    from its last whole checkpoint. Elsewhere None: stop a study's training with the study."""
    if _PRCTL is None:
        return None

    def set_death_signal():
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the study died before the line above took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_death_signal


def _train(runs: Runs, run, repository: pathlib.Path):
    """(what, workdir, command, done) of the run's training."""
    command = [sys.executable, "-m", "selfgait_jax.main",
               f"--config={repository / 'configs' / f'{run.config}.py'}:{run.spec}", f"--workdir={runs.workdir(run)}",
               *run.overrides(runs.data_root)]
    if run.init is not None:
        command.append(f"--config.finetune.init_from={runs.workdir(run.init)}")
    return str(run), runs.workdir(run), command, lambda: runs.trained(run)


def _zero_shot(runs: Runs, run, split: str, repository: pathlib.Path):
    """(what, workdir, command, done) of the frozen network's evaluation on ``split`` (the first
    `rows.EVAL_FRAMES` frames; validation: the last training subjects)."""
    if run.data == label_rows.CASIA_B:
        data = [f"--data={label_rows.CASIA_B_DATASET}", f"--data_root={runs.data_root}"]
    else:
        data = [f"--data=synthgait_b{':tiny' if run.tiny else ''}"]
    command = [sys.executable, str(repository / "tools" / "evaluate.py"), f"--workdir={runs.workdir(run)}",
               *data, f"--max_length={rows.EVAL_FRAMES}", f"--out={runs.zero_shot_folder(run, split)}"]
    if split == "validation":
        command.append(f"--validation_subjects={label_rows.validation_subjects(run.tiny)}")
    return f"{run}: zero-shot on {split}", runs.workdir(run), command, lambda: runs.zero_shot(run, split) is not None


def steps(runs: Runs, run, repository: pathlib.Path) -> list:
    """(what, workdir, command, done) of each step of the run: the training of the run it starts from, its own
    training, its zero-shot probes."""
    out = [_train(runs, run.init, repository)] if run.init is not None else []
    return out + [_train(runs, run, repository)] + [_zero_shot(runs, run, s, repository) for s in run.probes]


def environment(runs: Runs) -> dict:
    """The runs' environment: this process's, with JAX's persistent compilation cache in the study's
    runs folder unless one is set, so that runs of the same shapes (a pretraining and its 1-step
    twin, the fine-tunings, the zero-shot probes) compile their steps once. A cached program is the
    same compiled program: it changes no number."""
    return {"JAX_COMPILATION_CACHE_DIR": str(runs.out.resolve() / "jax_cache"), **os.environ}


def run_one(runs: Runs, run, repository: pathlib.Path, tag: str = "study") -> bool:
    """Runs what is missing of one run; True once it is finished and archived."""
    if not runs.finished(run):
        env = environment(runs)
        for what, workdir, command, done in steps(runs, run, repository):
            if not done() and not (run_logged(command, repository, workdir, what, tag, env) and done()):
                return False
    return runs.archive_run(run)


def run_study(runs: Runs, plan: list, repository: pathlib.Path, report, max_seeds: int | None = None,
              tag: str = "study") -> list[str]:
    """Runs what is missing of ``plan`` (only its seeds below ``max_seeds``, if given), calling
    ``report()`` after each run it made and at the end. A run that starts from a training that failed
    in this session is not tried (it would fail again). Returns the failed and left-out runs, each
    with its log file."""
    todo = [run for run in plan if max_seeds is None or run.seed < max_seeds]
    failed, broken = [], set()
    for k, run in enumerate(todo, 1):
        if runs.finished(run):
            runs.archive_run(run)
            continue
        print(f"[{tag}] run {k}/{len(todo)}: {run}", flush=True)
        if run.init in broken:
            failed.append(f"{run} (left out: {run.init} failed)")
            continue
        if run_one(runs, run, repository, tag):
            report()
            continue
        failed.append(f"{run} (see {runs.workdir(run) / 'log.txt'})")
        broken.update(r for r in (run, run.init) if r is not None and r.checkpoint and not runs.trained(r))
    report()
    return failed


def add_flags(parser) -> None:
    """The flags every study's tool shares: --out, --data, --data_root, --doc, --archive, --report."""
    parser.add_argument("--out", required=True, help="folder of the study's runs (one workdir per run)")
    parser.add_argument("--doc", default=None,
                        help="the doc whose generated section is rewritten (default: the study's doc for --data)")
    parser.add_argument("--archive", default=None,
                        help="where finished runs' results are kept (default: the study's folder for --data, "
                             "in the repository's docs/)")
    parser.add_argument("--data", default="synthgait", choices=("casia_b", "synthgait"),
                        help="where the study runs: SynthGait, or real CASIA-B (OpenGait's pkl tree at "
                             "--data_root; docs/casia_b.md) (default: %(default)s)")
    parser.add_argument("--data_root", default="",
                        help="with --data=casia_b: the folder of your CASIA-B pkl tree (SSS/TTT-NN/VVV/*.pkl) "
                             "(default: none, as SynthGait needs)")
    parser.add_argument("--report", action="store_true", help="only rewrite the report")


def main(args, runs: Runs, plan: list, repository: pathlib.Path, report, max_seeds: int | None, tag: str) -> int:
    """A study tool's work once its flags are read: only ``report()`` with --report, else the plan run
    (`run_study`); the exit status (2: a study on real data without its tree, 1: a run failed)."""
    if args.data != "synthgait" and not args.report and not (args.data_root and pathlib.Path(args.data_root).is_dir()):
        print(f"error: --data={args.data} needs --data_root, the folder of a CASIA-B pkl tree; got "
              f"{args.data_root!r}", file=sys.stderr)
        return 2
    if args.report:
        report()
        return 0
    failed = run_study(runs, plan, repository, report, max_seeds, tag)
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0
