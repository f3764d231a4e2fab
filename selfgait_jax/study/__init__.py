"""The studies: the reproduction study (the paper's Tables 1 and 3 as rows at one CPU-sized scale, run
seed by seed, then a report with the table, the verdicts and three figures), and the label-efficiency
study (pretexts against no pretraining at 5-40 % labels, with a zero-shot probe) at the same scale.

    rows.py     the rows, their seeds and the scale: the builder configs/study.py calls (config level:
                it imports only config_defaults, so a config file loads it from anywhere)
    runs.py     where a study's runs live: one workdir per row and seed, and the archive of finished
                runs kept in the repository
    runner.py   the order of the runs and running each one (``python -m selfgait_jax.main``)
    report.py   the numbers of the finished runs: the table, the paired verdicts, the generated
                section of docs/reproduction.md
    figures.py  the report's bar chart, pretraining curves and per-view heatmaps

    label_rows.py    the label study's runs by spec and their configs, the builder
                     configs/label_study.py calls (config level, over rows.py's scale)
    label_runs.py    its plan and where its runs live (runs folder, archive)
    label_runner.py  running each run: main, and tools/evaluate.py for the zero-shot probe
    label_report.py  the generated section of docs/label_efficiency.md and its figure

``tools/reproduce.py`` and ``tools/label_study.py`` are the command lines over runners and reports.
Nothing else in the package imports this subpackage: it sits with main and the tools, on top.
"""
