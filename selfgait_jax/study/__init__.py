"""The reproduction study: the paper's Tables 1 and 3 as rows at one CPU-sized scale, run seed by
seed, then a report with the table, the verdicts and three figures.

    rows.py     the rows, their seeds and the scale: the builder configs/study.py calls (config level:
                it imports only config_defaults, so a config file loads it from anywhere)
    runs.py     where a study's runs live: one workdir per row and seed, and the archive of finished
                runs kept in the repository
    runner.py   the order of the runs and running each one (``python -m selfgait_jax.main``)
    report.py   the numbers of the finished runs: the table, the paired verdicts, the generated
                section of docs/reproduction.md
    figures.py  the report's bar chart, pretraining curves and per-view heatmaps

``tools/reproduce.py`` is the command line over runner and report. Nothing else in the package
imports this subpackage: it sits with main and the tools, on top.
"""
