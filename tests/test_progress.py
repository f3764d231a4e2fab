"""Long loops report done / total, rate and ETA on stderr (selfgait_jax/progress.py), and the loops
that can take minutes use it: SynthGait generation, embedding, ranking."""

import io
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from selfgait_jax import progress as progress_lib
from selfgait_jax.progress import progress

ROOT = pathlib.Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(?P<desc>.+): (?P<n>\d+)/(?P<total>\d+) (?P<unit>\S+) \(\s*(?P<pct>\d+)%\) "
                  r"\[(?P<elapsed>[\d:]+)<(?P<remaining>[\d:?]+), (?P<rate>.+)\]$")


class FakeClock:
    """Stands in for tqdm's clock: every loop step below takes exactly `step` seconds."""

    def __init__(self, step: float):
        self.now, self.step = 1000.0, step

    def __call__(self):
        return self.now


def _lines(text: str) -> list[dict]:
    assert "\r" not in text  # off a terminal: whole lines only
    return [LINE.match(line).groupdict() for line in text.splitlines()]


def test_a_long_loop_reports_counts_rate_and_eta(monkeypatch):
    clock = FakeClock(step=2.0)
    monkeypatch.setattr("tqdm.std.time", clock)
    out = io.StringIO()
    seen = []
    for item in progress(range(10), desc="work", unit="step", file=out, delay=0, log_interval=0):
        seen.append(item)
        clock.now += clock.step
    assert seen == list(range(10))  # the items pass through unchanged
    lines = _lines(out.getvalue())
    counts = [int(line["n"]) for line in lines]
    assert counts[0] == 0 and counts[-1] == 10 and counts == sorted(counts)
    assert all(line["total"] == "10" and line["unit"] == "step" and line["desc"] == "work" for line in lines)
    after_four = next(line for line in lines if line["n"] == "4")
    # 4 steps of 2 s done: 8 s elapsed, 6 steps of 2 s to go (tqdm shows a rate below 1/s inverted)
    assert after_four["pct"] == "40"
    assert (after_four["elapsed"], after_four["remaining"]) == ("00:08", "00:12")
    assert after_four["rate"].strip() == "2.00s/step"
    assert lines[-1]["pct"] == "100" and lines[-1]["remaining"] == "00:00"


def test_updates_by_hand_count_towards_the_total():
    out = io.StringIO()
    with progress(total=7, desc="rendering", unit="subject", file=out, delay=0, log_interval=0) as bar:
        bar.update(3)
        bar.update(4)
    lines = _lines(out.getvalue())
    assert [line["n"] for line in lines][-1] == "7" and lines[-1]["pct"] == "100"
    assert {line["total"] for line in lines} == {"7"}


def test_off_a_terminal_lines_are_spaced_by_the_interval(monkeypatch):
    clock = FakeClock(step=1.0)
    monkeypatch.setattr("tqdm.std.time", clock)
    out = io.StringIO()
    for _ in progress(range(60), desc="work", file=out, delay=0, log_interval=15):
        clock.now += clock.step
    counts = [int(line["n"]) for line in _lines(out.getvalue())]
    # a line at the start, one every 15 s (15 steps), and the final one
    assert counts[0] == 0 and counts[-1] == 60
    assert 4 <= len(counts) <= 7, counts


def test_short_or_disabled_loops_print_nothing():
    out = io.StringIO()
    assert list(progress(range(3), desc="quick", file=out)) == [0, 1, 2]  # done before DELAY_S
    assert list(progress(range(3), desc="off", file=out, enabled=False, delay=0)) == [0, 1, 2]
    with progress(total=5, desc="off", file=out, enabled=False, delay=0) as bar:
        bar.update(5)
    assert out.getvalue() == ""


@pytest.mark.parametrize("silenced", [False, True])
def test_tqdm_disable_in_the_environment_silences_every_bar(silenced):
    # tqdm reads TQDM_* when it is imported: a fresh interpreter
    code = ("from selfgait_jax.progress import progress\n"
            "assert list(progress(range(3), desc='work', delay=0, log_interval=0)) == [0, 1, 2]\n")
    env = {**os.environ, "TQDM_DISABLE": "1" if silenced else ""}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert ("work: 3/3" in done.stderr) != silenced, done.stderr


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    for _ in progress(range(3), desc="work", file=out, delay=0):
        pass
    assert out.getvalue().startswith("\r") and "3/3" in out.getvalue()


@pytest.fixture
def shown(monkeypatch):
    """Every bar shows at once and redraws on every update (as a loop of minutes would)."""
    monkeypatch.setattr(progress_lib, "DELAY_S", 0.0)
    monkeypatch.setattr(progress_lib, "LOG_INTERVAL_S", 0.0)


def _last_count(err: str, desc_start: str) -> tuple[int, int]:
    lines = [LINE.match(line) for line in err.splitlines() if line.startswith(desc_start)]
    assert lines, err
    return int(lines[-1]["n"]), int(lines[-1]["total"])


def test_synthgait_generation_counts_subjects(tmp_path, shown, capsys):
    from selfgait_jax.data.synthgait.dataset import SynthGaitSpec, generate

    spec = SynthGaitSpec("synthgait_b", 0, ("001", "002", "003"), ("nm-01",), ("090",), 4, 5)
    generate(spec, tmp_path, num_workers=1)
    assert _last_count(capsys.readouterr().err, "rendering SynthGait synthgait_b") == (3, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["001", "002", "003"]
    generate(spec, tmp_path, num_workers=1)  # all there: nothing to render, nothing said
    assert capsys.readouterr().err == ""


def test_embedding_and_ranking_count_sequences_and_pairs(shown, capsys):
    from selfgait_jax.data.sources import ArraySource, SequenceMeta
    from selfgait_jax.evaluation import embed, ranking

    metas = [SequenceMeta(f"{s:03d}", t, v) for s in range(3) for t in ("nm-01", "nm-05") for v in ("000", "090")]
    rng = np.random.default_rng(0)
    source = ArraySource("toy", metas, [rng.integers(0, 2, (5 + i, 64, 44)).astype(np.uint8) * 255
                                        for i in range(len(metas))])

    def mean_frame(variables, frames, mask):  # a stand-in network: [B, T, H, W] -> [B, 1, 1]
        return (frames.astype(np.float32).mean(axis=(2, 3)) * mask).sum(axis=1)[:, None, None]

    embeddings = embed.embed_source(mean_frame, {}, source, batch_size=4)
    assert _last_count(capsys.readouterr().err, "embedding 12 sequences of toy") == (12, 12)
    gallery = [i for i, m in enumerate(metas) if m.type == "nm-01"]
    probes = {"NM": [i for i, m in enumerate(metas) if m.type == "nm-05"]}
    ranking.evaluate_embeddings(embeddings, [m.subject for m in metas], [m.view for m in metas],
                                 gallery, probes)
    # 6 probes, each ranked at the one gallery view that is not its own
    assert _last_count(capsys.readouterr().err, "ranking 6 probes at 2 gallery views") == (6, 6)


def test_the_video_frame_loops_count_frames(shown, capsys):
    from selfgait_jax.video import segmenters, tracking

    masks = np.zeros((12, 48, 64), bool)
    for t in range(12):  # one walker crossing the frame
        masks[t, 8:40, 4 + 3 * t: 14 + 3 * t] = True
    tracking.track(segmenters.clean_masks(masks))
    err = capsys.readouterr().err
    assert _last_count(err, "cleaning masks") == (12, 12)
    assert _last_count(err, "tracking walkers") == (12, 12)
