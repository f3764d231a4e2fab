"""tools/gallery.py: enroll, list and remove named walks; the gallery is tied to its model; atomic writes."""


import numpy as np
import pytest
from PIL import Image

import repo_files
from gei_model import export_gei
from selfgait_jax.errors import GalleryNotFound
from selfgait_jax.evaluation import gallery as gallery_lib

gallery_tool = repo_files.tool("gallery")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    export_gei(root / "gei.npz")
    export_gei(root / "gei_x2.npz", scale=2.0)  # another model: other parameters
    return root / "gei.npz", root / "gei_x2.npz"


def write_walk(folder, width, frames=12):
    """A sequence folder of raw silhouette PNGs: a box ``width`` wide whose legs swing."""
    folder.mkdir(parents=True)
    for t in range(frames):
        image = np.zeros((100, 80), np.uint8)
        image[10:60, 40 - width // 2 : 40 + width // 2] = 255
        stride = 4 + 3 * (t % 4)
        image[60:95, 40 - stride - 3 : 40 - stride + 3] = 255
        image[60:95, 40 + stride - 3 : 40 + stride + 3] = 255
        Image.fromarray(image).save(folder / f"{t:03d}.png")
    return folder


def test_enroll_list_remove(models, tmp_path, capsys):
    model, _ = models
    store = tmp_path / "g.npz"
    walks = {name: write_walk(tmp_path / name / "walk" / "cam", width) for name, width in
             (("alice", 14), ("bob", 24))}
    for name in ("alice", "bob", "alice"):
        assert gallery_tool.main(["enroll", f"--model={model}", f"--gallery={store}", f"--name={name}",
                                  f"--sequence={walks[name]}"]) == 0
    assert "walk 2 of alice" in capsys.readouterr().out
    # A folder holding one sequence further down is that sequence.
    assert gallery_tool.main(["enroll", f"--model={model}", f"--gallery={store}", "--name=carol",
                              f"--sequence={tmp_path / 'bob'}"]) == 0
    capsys.readouterr()
    loaded = gallery_lib.load_gallery(store)
    assert loaded.identities() == {"alice": 2, "bob": 1, "carol": 1}
    # The source keeps the folder given (one walker of tools/silhouettes.py's output is named by it).
    assert loaded.sources == [str(walks["alice"]), str(walks["bob"]), str(walks["alice"]),
                              str(tmp_path / "bob" / "walk" / "cam")]
    assert loaded.embeddings.shape == (4, 16, 88) and loaded.embeddings.dtype == np.float32
    np.testing.assert_array_equal(loaded.embeddings[0], loaded.embeddings[2])  # same walk, same row
    assert gallery_tool.main(["list", f"--gallery={store}"]) == 0
    out = capsys.readouterr().out
    assert "3 identities, 4 walks" in out and "alice: 2 walks" in out and "gei step 0" in out
    assert gallery_tool.main(["remove", f"--gallery={store}", "--name=alice"]) == 0
    assert "removed alice (2 walks)" in capsys.readouterr().out
    assert gallery_lib.load_gallery(store).identities() == {"bob": 1, "carol": 1}
    assert gallery_tool.main(["remove", f"--gallery={store}", "--name=alice"]) == 1
    assert "'alice' is not enrolled (enrolled: bob, carol)" in capsys.readouterr().err
    # Two sequences where one is expected: the tool names them instead of guessing.
    assert gallery_tool.main(["enroll", f"--model={model}", f"--gallery={store}", "--name=x",
                              f"--sequence={tmp_path}"]) == 1
    assert "holds 2 sequences" in capsys.readouterr().err
    with np.load(store, allow_pickle=False) as data:  # no pickle anywhere
        assert all(data[k].dtype != object for k in data.files)


def test_another_model_is_refused(models, tmp_path, capsys):
    model, other = models
    store = tmp_path / "g.npz"
    walk = write_walk(tmp_path / "walk", 14)
    assert gallery_tool.main(["enroll", f"--model={model}", f"--gallery={store}", "--name=a",
                              f"--sequence={walk}"]) == 0
    before = store.read_bytes()
    assert gallery_tool.main(["enroll", f"--model={other}", f"--gallery={store}", "--name=b",
                              f"--sequence={walk}"]) == 1
    err = capsys.readouterr().err
    assert "holds embeddings made by gei step 0 from gei.npz" in err and "the model given is" in err
    assert "gei_x2.npz" in err and "cannot be compared" in err
    assert store.read_bytes() == before


def test_an_interrupted_write_leaves_the_old_gallery(models, tmp_path, monkeypatch):
    model, _ = models
    store = tmp_path / "g.npz"
    walk = write_walk(tmp_path / "walk", 14)
    assert gallery_tool.main(["enroll", f"--model={model}", f"--gallery={store}", "--name=a",
                              f"--sequence={walk}"]) == 0
    before = store.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(gallery_lib.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        gallery_tool.main(["enroll", f"--model={model}", f"--gallery={store}", "--name=b", f"--sequence={walk}"])
    assert store.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz", "g.npz.lock", "walk"]


def test_a_broken_gallery_file_is_named(models, tmp_path, capsys):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    assert gallery_tool.main(["list", f"--gallery={broken}"]) == 1
    assert f"{broken}: not a gallery file" in capsys.readouterr().err
    assert gallery_tool.main(["list", f"--gallery={tmp_path / 'none.npz'}"]) == 1
    assert "no such gallery file" in capsys.readouterr().err
    with pytest.raises(GalleryNotFound) as missing:  # its own class: enroll starts a new gallery on it
        gallery_lib.load_gallery(tmp_path / "none.npz")
    assert missing.value.path == str(tmp_path / "none.npz") and isinstance(missing.value, FileNotFoundError)
    with pytest.raises(ValueError) as broken_error:  # a broken file is not a missing one
        gallery_lib.load_gallery(broken)
    assert not isinstance(broken_error.value, GalleryNotFound)
    model, _ = models
    assert gallery_tool.main(["list", f"--gallery={model}"]) == 1  # an exported model is not a gallery
    assert "not a gallery file" in capsys.readouterr().err
