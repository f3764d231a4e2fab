"""The studies: one engine (a plan of runs, resumable and archived, a runner, then a report) and each
study a declaration over it. The reproduction study (the paper's Tables 1 and 3 as rows at one
CPU-sized scale) and the label-efficiency study (pretexts against no pretraining at 5-40 % labels,
with a zero-shot probe) run on SynthGait or, with ``--data=casia_b``, on real CASIA-B.

The engine:
    runs.py     where runs live: a workdir per run, the archive of finished runs in the repository;
                a run declares its folder, the files it leaves and which of them finish it
    runner.py   running a plan: each run's steps (its start's training, its training with
                ``python -m selfgait_jax.main``, its zero-shot probes with tools/evaluate.py)
    figures.py  the reproduction report's bar chart, pretraining curves and per-view heatmaps

The declarations:
    rows.py         the reproduction's rows on SynthGait (`Row`: one chain of configs/study.py), their
                    seeds and the scale: the builder configs/study.py calls (config level: it imports
                    only config_defaults, so a config file loads it from anywhere)
    label_rows.py   the label study's runs by spec (`Pretraining`, `FineTuning`), their configs and
                    plans (SynthGait, CASIA-B): the builder configs/label_study.py calls (config level)
    report.py       a reproduction study (`Study`: rows, the run behind each seed, the claims; one on
                    SynthGait, one on CASIA-B): its table, paired verdicts and doc section
    label_report.py the label study's doc section: zero-shot probe, rank-1 against the label fraction,
                    the verdicts and its figure

``tools/reproduce.py`` and ``tools/label_study.py`` are the command lines over the engine and reports.
Nothing else in the package imports this subpackage: it sits with main and the tools, on top.
"""
