"""Imports point down: config_names ← models ← data ← config_defaults ← train, evaluation ← main,
tools; ``sharding`` (the device mesh) is a leaf beside models that data, train and evaluation use.
And importing the package changes no global JAX setting (entry points do that explicitly, with
``selfgait_jax.configure_jax``).

Read from the source with ``ast`` (in-function imports included), so a lazy import cannot hide a
dependency that points up or sideways.
"""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "selfgait_jax"

# Sub-package (or top-level module) -> the sub-packages of selfgait_jax it must never import.
EVERY_PART = {"config_names", "config_defaults", "sharding", "models", "data", "train", "evaluation",
              "workdir", "main", "video"}
FORBIDDEN = {
    # The shared names (SIZES, STAGES): below everything.
    "config_names": EVERY_PART - {"config_names"},
    # The device mesh: a leaf.
    "sharding": EVERY_PART - {"sharding"},
    "models": {"sharding", "data", "config_defaults", "train", "evaluation", "workdir", "main", "video"},
    "data": {"config_defaults", "train", "evaluation", "workdir", "main"},
    # The config builders that configs/*.py call: on top of the models' and datasets' tables.
    "config_defaults": {"train", "evaluation", "workdir", "main", "video"},
    "workdir": {"train", "evaluation", "main"},
    "train": {"evaluation", "main"},
    "evaluation": {"train", "main"},
    "video": {"train", "evaluation", "workdir", "main"},
    # Progress bars on stderr (progress.py): a leaf that every layer may use.
    "progress": EVERY_PART,
}


def _imported_parts(path: pathlib.Path) -> set[str]:
    """The first name after ``selfgait_jax.`` of every import in the file, wherever it is."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "selfgait_jax":  # from selfgait_jax import workdir
                names = [f"selfgait_jax.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative: not used in this package
            raise AssertionError(f"{path}: relative import; use absolute selfgait_jax.* imports")
        else:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "selfgait_jax" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


def _layer(path: pathlib.Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_imports_point_down():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        forbidden = FORBIDDEN.get(_layer(path), set())
        for part in sorted(_imported_parts(path) & forbidden):
            violations.append(f"{path.relative_to(PACKAGE.parent)} imports selfgait_jax.{part}")
    assert not violations, "imports that point up or sideways:\n" + "\n".join(violations)


def test_the_checker_sees_in_function_and_from_package_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from selfgait_jax.train import loop\n"
                      "from selfgait_jax import workdir as w\nimport selfgait_jax.evaluation.api\n")
    assert _imported_parts(sample) == {"train", "workdir", "evaluation"}


def test_only_main_imports_both_train_and_evaluation():
    both = [str(path.relative_to(PACKAGE.parent)) for path in sorted(PACKAGE.rglob("*.py"))
            if {"train", "evaluation"} <= _imported_parts(path)]
    assert both == ["selfgait_jax/main.py"]


def test_importing_the_package_changes_no_jax_setting():
    import subprocess
    import sys

    code = ("import jax\n"
            "before = {k: getattr(jax.config, k) for k in ('jax_threefry_partitionable', 'jax_enable_x64')}\n"
            "import selfgait_jax, selfgait_jax.models, selfgait_jax.sharding, selfgait_jax.workdir\n"
            "from selfgait_jax.train import loop, steps\n"
            "from selfgait_jax.evaluation import api, exported\n"
            "after = {k: getattr(jax.config, k) for k in before}\n"
            "assert before == after, (before, after)\n"
            "selfgait_jax.configure_jax()\n"
            "assert jax.config.jax_threefry_partitionable is False\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_tests_run_with_the_entry_points_jax_settings():
    import jax

    assert jax.config.jax_threefry_partitionable is False  # conftest.py: selfgait_jax.configure_jax()
