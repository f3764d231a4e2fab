"""The repository's configs and tools, loaded by their paths as ``--config=configs/NAME.py`` and
``python tools/NAME.py`` load them: neither folder is a package on sys.path, so no test edits it."""

import functools
import importlib.util
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


@functools.cache
def _load(folder: str, name: str):
    path = ROOT / folder / f"{name}.py"
    module_name = f"_repo_{folder.replace('/', '_')}_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look a module up by its name
    spec.loader.exec_module(module)
    return module


def config(name: str):
    """configs/NAME.py, e.g. ``config("finetune").get_config("tiny")``."""
    return _load("configs", name)


def tool(name: str):
    """tools/NAME.py, e.g. ``tool("export").main([...])``."""
    return _load("tools", name)


def bench_tool(name: str):
    """tools/bench/NAME.py, the developers' speed measurements."""
    return _load("tools/bench", name)
