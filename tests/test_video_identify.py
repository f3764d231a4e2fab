"""From a camera to a name, on footage nobody filmed: enroll walkers from colour videos, then answer
who walks in another video, with the open-set threshold an evaluation stored with the model.

The model is the gait energy image (tests/gei_model.py), exported like a trained network: it needs
no training, so the chain (video -> silhouettes -> embedding -> gallery -> threshold -> answer) is
tested in seconds. It is a weak embedding: on these clips a walker's two walks are 0.37 apart, the
stranger at least 1.56 from everyone, and the threshold from its SynthGait evaluation is 0.80; with
other clothes or placements the GEI confuses some walkers (a trained network is what to use).
"""


import pathlib

import numpy as np
import pytest

import repo_files
from gei_model import export_gei
from selfgait_jax.data.synthgait.dataset import SynthGaitSpec, render_walk
from selfgait_jax.data.synthgait.scene import Actor, render_scene
from selfgait_jax.evaluation import exported, open_set
from selfgait_jax.video import clips, extract, tracking

gallery_tool, identify_tool, silhouettes_tool = (repo_files.tool(n) for n in ("gallery", "identify", "silhouettes"))

# The test frames are small (walkers ~70 px tall) and filmed by a fixed camera: the surveillance
# path, background subtraction (the learned default is tested in test_video_person.py).
SMALL = ["--min_height=30", "--segmenter=background"]
# Enrolment: 001 and 002 cross in one video, 003 walks alone in another. Probe: 003 on another
# walk (nm-02) crossing 005, who was never enrolled.
VIDEOS = {
    "pair": [Actor("001", "nm-01", view=90, start=0.75, ground=0.92, scale=0.22, clothes=1),
             Actor("002", "nm-01", view=270, start=0.25, ground=0.82, scale=0.2, clothes=2)],
    "single": [Actor("003", "nm-01", view=90, start=0.7, ground=0.9, scale=0.22, clothes=3)],
    "probe": [Actor("003", "nm-02", view=90, start=0.75, ground=0.9, scale=0.22, clothes=3),
              Actor("005", "nm-01", view=270, start=0.25, ground=0.82, scale=0.2, clothes=5)],
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    out = {}
    for seed, (name, actors) in enumerate(VIDEOS.items(), start=11):
        scene = render_scene(actors, size=(180, 240), frames=64, seed=seed)
        out[name] = (clips.write_video(root / f"{name}.mp4", scene.frames), scene)
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The GEI model with the open-set threshold of its own evaluation: SynthGait subjects 101-110
    (none of the videos'), side view, gallery nm-01, probes nm-05/06, at a false-accept rate of 5 %."""
    root = tmp_path_factory.mktemp("model")
    export_gei(root / "plain.npz")
    plain = exported.load_exported(root / "plain.npz")
    spec = SynthGaitSpec("synthgait_b", 0, tuple(f"{i:03d}" for i in range(101, 111)), ("nm-01", "nm-05", "nm-06"),
                         ("090",), 40, 60)
    sequences, subjects, types = [], [], []
    for subject in spec.subjects:
        for sequence_type in spec.types:
            sequences.append(render_walk(spec, subject, sequence_type)[0])
            subjects.append(subject)
            types.append(sequence_type)
    embeddings = np.concatenate([plain(s[None], np.ones((1, len(s)), bool)) for s in sequences])
    gallery = [i for i, t in enumerate(types) if t == "nm-01"]
    probes = [i for i, t in enumerate(types) if t != "nm-01"]
    result = open_set.evaluate(embeddings, subjects, gallery, probes, far=0.05)
    summary = {k: result[k] for k in ("threshold", "target_far", "far", "tar", "metric")}
    export_gei(root / "gei.npz", open_set={**summary, "dataset": "synthgait_b", "source": "test"})
    return root / "gei.npz", result["threshold"]


def walker_of(path, subject, actors, scene) -> str:
    """The extraction's name (walker-01, ...) for the actor ``subject`` of a video."""
    extraction = extract.extract_walkers(clips.read_clip(path), "background", tracking.TrackOptions(min_height=30))
    for walker in extraction.walkers:
        body = walker.track.bodies[0]
        x0, y0, x1, y1 = body.box
        overlap = [m[body.frame, y0:y1, x0:x1][body.mask].sum() for m in scene.masks]
        if actors[int(np.argmax(overlap))].subject == subject:
            return walker.name
    raise AssertionError(f"{subject} not found in {path}")


def answers(output: str) -> list[tuple[str, str]]:
    """``(walker label, answer)`` per walker from tools/identify.py's output."""
    out = []
    for line in output.splitlines():
        if " frames -> " in line:
            label, answer = line.split(" frames -> ")
            out.append((label.rsplit(":", 1)[0], answer))
    return out


@pytest.mark.slow
def test_an_enrolled_walker_is_named_and_a_stranger_is_unknown(videos, model, tmp_path, capsys):
    model_path, threshold = model
    assert 0.5 < threshold < 1.0
    store = tmp_path / "people.npz"
    pair, pair_scene = videos["pair"]
    enroll = ["enroll", f"--model={model_path}", f"--gallery={store}"] + SMALL
    # Two walkers in the video: which one must be said.
    assert gallery_tool.main(enroll + ["--name=alice", f"--video={pair}"]) == 1
    assert "2 walkers found" in capsys.readouterr().err and not store.exists()
    for name, subject in (("alice", "001"), ("bob", "002")):
        walker = walker_of(pair, subject, VIDEOS["pair"], pair_scene)
        assert gallery_tool.main(enroll + [f"--name={name}", f"--video={pair}", f"--walker={walker}"]) == 0
    assert gallery_tool.main(enroll + ["--name=carol", f"--video={videos['single'][0]}"]) == 0
    capsys.readouterr()

    probe, probe_scene = videos["probe"]
    carol = walker_of(probe, "003", VIDEOS["probe"], probe_scene)
    stranger = walker_of(probe, "005", VIDEOS["probe"], probe_scene)
    assert identify_tool.main([f"--model={model_path}", f"--gallery={store}", f"--video={probe}", "--top=3"]
                              + SMALL) == 0
    out = capsys.readouterr().out
    assert f"3 identities, 3 walks; threshold {threshold:.6g} stored with the model" in out
    found = dict(answers(out))
    assert len(found) == 2
    by_walker = {label.split()[0]: answer for label, answer in found.items()}
    assert by_walker[carol].startswith("carol (") and by_walker[stranger].startswith("unknown (nearest ")
    carol_distance = float(by_walker[carol].split("(")[1].split()[0])
    stranger_distance = float(by_walker[stranger].split(" at ")[1].split()[0])
    assert carol_distance < 0.7 * threshold and stranger_distance > 1.5 * threshold

    # The same answers from the silhouettes written by tools/silhouettes.py (a tree of two walkers).
    sil = tmp_path / "sil"
    assert silhouettes_tool.main([f"--video={probe}", f"--out={sil}"] + SMALL) == 0
    capsys.readouterr()
    assert identify_tool.main([f"--model={model_path}", f"--gallery={store}", f"--probe={sil}"]) == 0
    # Labels are the sequences' paths, so a walker keeps its folder's name.
    walker_name = lambda label: pathlib.Path(label).relative_to(sil).parts[0]  # noqa: E731
    again = {walker_name(label): answer.split(" (")[0] for label, answer in answers(capsys.readouterr().out)}
    assert again == {carol: "carol", stranger: "unknown"}
    assert identify_tool.main([f"--model={model_path}", f"--gallery={store}", f"--probe={sil / carol}"]) == 0
    (label, answer), = answers(capsys.readouterr().out)
    assert walker_name(label) == carol and answer.startswith("carol (")
    # A threshold given on the command line wins over the stored one.
    assert identify_tool.main([f"--model={model_path}", f"--gallery={store}", f"--probe={sil}",
                               "--threshold=10"]) == 0
    loose = {walker_name(label): answer.split(" (")[0] for label, answer in answers(capsys.readouterr().out)}
    assert loose[carol] == "carol" and loose[stranger] in ("alice", "bob")  # closed set: the nearest


def test_identify_refuses_a_gallery_of_another_model(videos, model, tmp_path, capsys):
    model_path, _ = model
    store = tmp_path / "people.npz"
    assert gallery_tool.main(["enroll", f"--model={model_path}", f"--gallery={store}", "--name=carol",
                              f"--video={videos['single'][0]}"] + SMALL) == 0
    other = tmp_path / "other.npz"
    export_gei(other, scale=3.0)
    assert identify_tool.main([f"--model={other}", f"--gallery={store}", f"--video={videos['single'][0]}"]
                              + SMALL) == 1
    assert "holds embeddings made by gei step 0 from gei.npz" in capsys.readouterr().err
    # A video where nobody walks: the same error from both tools, naming the video.
    empty_scene = clips.write_video(tmp_path / "nobody.avi", render_scene([], size=(90, 120), frames=8).frames,
                                    codec="MJPG")
    assert identify_tool.main([f"--model={model_path}", f"--gallery={store}", f"--video={empty_scene}"]) == 1
    assert capsys.readouterr().err == f"error: {empty_scene}: no walker found (nothing moved); see " \
                                      f"tools/silhouettes.py's flags\n"
    assert gallery_tool.main(["enroll", f"--model={model_path}", f"--gallery={store}", "--name=nobody",
                              f"--video={empty_scene}"]) == 1
    assert f"error: {empty_scene}: no walker found (nothing moved)" in capsys.readouterr().err


def test_an_empty_or_corrupt_video_is_a_clear_error_in_every_tool(model, tmp_path, capsys):
    model_path, _ = model
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 8)
    store = tmp_path / "people.npz"
    assert gallery_tool.main(["enroll", f"--model={model_path}", f"--gallery={store}", "--name=x",
                              f"--video={empty}"]) == 1
    assert f"error: {empty}: empty file" in capsys.readouterr().err and not store.exists()
    assert identify_tool.main([f"--model={model_path}", f"--gallery={tmp_path / 'none.npz'}",
                               f"--video={corrupt}"]) == 1
    assert "no such gallery file" in capsys.readouterr().err  # the gallery is checked before the video
    assert gallery_tool.main(["enroll", f"--model={model_path}", f"--gallery={store}", "--name=x",
                              f"--video={corrupt}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {corrupt}: ") and ("cannot open it as a video" in err or "no frame" in err)
