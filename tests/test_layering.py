"""Imports point down: errors, config_names ← models ← data ← config_defaults ← train, evaluation ← main,
study, tools; ``sharding`` (the device mesh) is a leaf beside models that data, train and evaluation use.
The studies' rows (``study/rows.py`` and ``study/label_rows.py``, what configs/study.py and
configs/label_study.py build) sit at config_defaults' level; the rest of ``study`` (runners, reports)
sits on top beside main: nothing else imports it.
Importing the package changes no global JAX setting (entry points do that explicitly, with
``selfgait_jax.configure_jax``), and the networks, the training core and evaluation import without
TensorFlow (``WITHOUT_TENSORFLOW``, each checked in a fresh process).

Read from the source with ``ast`` (in-function imports included), so a lazy import cannot hide a
dependency that points up or sideways.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "selfgait_jax"

# Sub-package (or top-level module) -> the sub-packages of selfgait_jax it must never import.
EVERY_PART = {"errors", "config_names", "config_defaults", "sharding", "models", "data", "train", "evaluation",
              "workdir", "main", "video", "study", "study.rows"}
STUDY = ("study", "study.rows")  # the study subpackage: its runners and reports, and its config-level rows
FORBIDDEN = {
    # The error classes every layer raises (ConfigError, SequenceError): below everything.
    "errors": EVERY_PART - {"errors"},
    # The shared names (SIZES, STAGES): below everything.
    "config_names": EVERY_PART - {"config_names"},
    # The device mesh: a leaf.
    "sharding": EVERY_PART - {"sharding"},
    "models": {"sharding", "data", "config_defaults", "train", "evaluation", "workdir", "main", "video", *STUDY},
    "data": {"config_defaults", "train", "evaluation", "workdir", "main", *STUDY},
    # The config builders that configs/*.py call: on top of the models' and datasets' tables.
    "config_defaults": {"train", "evaluation", "workdir", "main", "video", *STUDY},
    # The studies' rows: config builders over config_defaults (label_rows over rows too), nothing of
    # the study above them.
    "study.rows": {"train", "evaluation", "workdir", "main", "video", "study"},
    "workdir": {"train", "evaluation", "main", *STUDY},
    "train": {"evaluation", "main", *STUDY},
    "evaluation": {"train", "main", *STUDY},
    "video": {"train", "evaluation", "workdir", "main", *STUDY},
    "main": {*STUDY},
    # The study runs main as a subprocess and reads what it wrote; it never imports it.
    "study": {"main"},
    # Progress bars on stderr (progress.py): a leaf that every layer may use.
    "progress": EVERY_PART,
}


# The config-level modules of the study subpackage: their own layer, "study.rows".
CONFIG_LEVEL_STUDY = {"rows", "label_rows"}


def _part(pieces: list[str]) -> str:
    """The layer an imported ``selfgait_jax.X[.Y]`` belongs to: X, or "study.rows" for the study's
    config-level modules."""
    if pieces[1] == "study" and len(pieces) > 2 and pieces[2] in CONFIG_LEVEL_STUDY:
        return "study.rows"
    return pieces[1]


def _imported_parts(path: pathlib.Path) -> set[str]:
    """The layer (first name after ``selfgait_jax.``, or "study.rows") of every import in the file,
    wherever it is."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module in ("selfgait_jax", "selfgait_jax.study"):  # from selfgait_jax import workdir
                names = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative: not used in this package
            raise AssertionError(f"{path}: relative import; use absolute selfgait_jax.* imports")
        else:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "selfgait_jax" and len(pieces) > 1:
                parts.add(_part(pieces))
    return parts


def _layer(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    if parts[0] == "study" and path.stem in CONFIG_LEVEL_STUDY:
        return "study.rows"
    return parts[0].removesuffix(".py")


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


def test_the_checker_tells_the_studys_rows_from_the_rest_of_it(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from selfgait_jax.study import rows\nimport selfgait_jax.study.label_rows\n")
    assert _imported_parts(sample) == {"study.rows"}
    sample.write_text("from selfgait_jax.study import label_report\nfrom selfgait_jax.study.runs import Runs\n")
    assert _imported_parts(sample) == {"study"}
    assert _layer(PACKAGE / "study" / "label_rows.py") == "study.rows"
    assert _layer(PACKAGE / "study" / "runner.py") == "study"


def _module_name(path: pathlib.Path) -> str:
    """``selfgait_jax/evaluation/identify.py`` -> ``selfgait_jax.evaluation.identify`` (a package's
    ``__init__.py`` -> the package)."""
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imported_modules(path: pathlib.Path, modules: set[str]) -> set[str]:
    """The package modules that the file imports, wherever the import is (``from package import
    module`` names the module, not the package's ``__init__``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                     else node.module for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:  # an imported function or class: its module
                name = name.rpartition(".")[0]
            if name and name != "selfgait_jax":
                found.add(name)
    return found


def _import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the module graph ``{module: imported modules}`` as ``[a, b, ..., a]``; [] if none."""
    done, path = set(), []

    def visit(module):
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return []
        path.append(module)
        for imported in sorted(graph.get(module, ())):
            cycle = visit(imported)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return []


def test_no_package_modules_import_each_other():
    """Each concept has one home and imports point one way: no module imports one that imports it
    back, directly or around a circle (in-function imports included)."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: _imported_modules(path, set(paths)) - {name} for name, path in paths.items()}
    cycle = _import_cycle(graph)
    assert not cycle, "an import circle: " + " -> ".join(cycle)


def test_the_circle_check_sees_a_circle_through_a_lazy_import(tmp_path):
    modules = {"selfgait_jax.evaluation", "selfgait_jax.evaluation.a", "selfgait_jax.evaluation.b"}
    sample = tmp_path / "a.py"
    sample.write_text("def f():\n    from selfgait_jax.evaluation.b import g\n"
                      "from selfgait_jax.evaluation import b\n")
    assert _imported_modules(sample, modules) == {"selfgait_jax.evaluation.b"}
    graph = {"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}
    assert _import_cycle(graph) == ["x", "y", "z", "x"]
    assert _import_cycle({"x": {"y"}, "y": set(), "w": {"x", "y"}}) == []


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


# What GPU hosts without TensorFlow import (TensorFlow lives only in the input pipeline): the code,
# and what else must stay out of the process once it is imported.
WITHOUT_TENSORFLOW = {
    "models": ("import selfgait_jax.models", ("tensorflow",)),
    # the loop imports the input pipelines only when it builds batches
    "training core": ("from selfgait_jax import workdir\n"
                      "from selfgait_jax.train import config_checks, loop, losses, state, steps",
                      ("tensorflow",)),
    # the pipelines import TensorFlow with their tf.data back end (tf_input) only when it is used
    "training input pipelines": ("import selfgait_jax.data.pipelines, selfgait_jax.data.batch_plans",
                                 ("tensorflow",)),
    "inference batches": ("import selfgait_jax.data.inference, selfgait_jax.data.batching, "
                          "selfgait_jax.data.sampling", ("tensorflow",)),
    # an exported model's loader needs neither flax nor the networks
    "exported model loader": ("import selfgait_jax.evaluation.exported",
                              ("flax", "tensorflow", "selfgait_jax.models")),
    # a tree's compact file (data.root=FILE.npz, tools/pack_dataset.py): what a GPU host opens
    "compact dataset file": ("import selfgait_jax.data.packed, selfgait_jax.data.sources",
                             ("tensorflow", "tensorflow_datasets", "PIL")),
    "evaluation": ("from selfgait_jax.evaluation import api, embed, identify, ranking, tables\n"
                   "import selfgait_jax.data.sources, selfgait_jax.workdir", ("tensorflow",)),
}


@pytest.mark.parametrize("part", sorted(WITHOUT_TENSORFLOW))
def test_imports_without_tensorflow(part):
    import subprocess
    import sys

    code, absent = WITHOUT_TENSORFLOW[part]
    check = f"import sys\n{code}\nloaded = {{{', '.join(map(repr, absent))},}} & set(sys.modules)\n" \
            "assert not loaded, f'{sorted(loaded)} imported'\n"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_tests_run_with_the_entry_points_jax_settings():
    import jax

    assert jax.config.jax_threefry_partitionable is False  # conftest.py: selfgait_jax.configure_jax()


def test_the_study_package_imports_nothing_when_its_rows_are_loaded():
    """configs/study.py imports selfgait_jax.study.rows, which runs study/__init__.py first: that must
    not pull in the runner or the report (and with them what sits above the config level)."""
    init = PACKAGE / "study" / "__init__.py"
    assert not [n for n in ast.walk(ast.parse(init.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))]


REPOSITORY = PACKAGE.parent
# A script started in a subprocess by the multi-process tests: it puts this checkout first on purpose.
SYS_PATH_ALLOWED = {"tests/multiprocess_worker.py"}


def _top_level_imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _is_sys_path(node) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
            and node.value.id == "sys")


def _edits_sys_path(tree) -> bool:
    """sys.path.insert / append / extend (...), or an assignment to sys.path or a slice of it."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append", "extend") and _is_sys_path(node.func.value)):
            return True
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if _is_sys_path(target) or (isinstance(target, ast.Subscript) and _is_sys_path(target.value)):
                    return True
    return False


def test_the_sys_path_check_sees_every_edit():
    for code in ("sys.path.insert(0, 'x')", "sys.path.append('x')", "sys.path[:0] = ['x']", "sys.path += ['x']"):
        assert _edits_sys_path(ast.parse(f"import sys\n{code}\n")), code
    assert not _edits_sys_path(ast.parse("import sys\nfound = [p for p in sys.path if p]\n"))


def test_tools_are_a_command_line_over_the_package():
    """What two tools or a test share lives in the package: no tool imports another tool or configs/,
    and no tool or test edits sys.path to reach one (tests load them by path: tests/repo_files.py)."""
    tools = {path.stem for path in (REPOSITORY / "tools").glob("*.py")}
    problems = []
    for path in sorted((REPOSITORY / "tools").rglob("*.py")):
        for name in sorted(_top_level_imports(path) & (tools | {"configs"})):
            problems.append(f"{path.relative_to(REPOSITORY)} imports {name}")
    for path in sorted([*(REPOSITORY / "tools").rglob("*.py"), *(REPOSITORY / "tests").glob("*.py")]):
        name = str(path.relative_to(REPOSITORY))
        text = path.read_text()
        if name not in SYS_PATH_ALLOWED and _edits_sys_path(ast.parse(text)):
            problems.append(f"{name} edits sys.path")
        if path.parent.name == "tests" and "configs" in _top_level_imports(path):
            problems.append(f"{name} imports configs")
    assert not problems, "\n".join(problems)
