"""The kinds of bad input the package reports, one class each, so that a caller decides by class.

They sit below every other module (this one imports nothing), so models, data, train and evaluation
can all raise them, and ``selfgait_jax.main`` and the tools catch them by class, never by the file
that raised them or the words of the message:

- ``ConfigError``: a config setting that cannot be used; ``key`` is its dotted path.
- ``SequenceError``: a sequence (a folder of frames, a .pkl) that cannot be used; ``path`` names it.
- ``GalleryNotFound``: an enrolled gallery file that does not exist yet.
- ``ModelMismatchError``: a gallery asked to take or match embeddings of another model than its own.
- ``WorkdirInUseError``: a workdir whose lock another live training run holds.

Each is a subclass of the built-in error it refines (ValueError, FileNotFoundError, RuntimeError),
so code that catches those keeps working.
"""


class ConfigError(ValueError):
    """A config setting that cannot be used. The message is ``config.<key>: <problem>``."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"config.{key}: {problem}")
        self.key = key
        self.problem = problem


class SequenceError(ValueError):
    """A sequence that cannot be used; the message starts with its path."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class GalleryNotFound(FileNotFoundError):
    """A gallery file that does not exist (yet): ``tools/gallery.py enroll`` creates it."""

    def __init__(self, path):
        super().__init__(f"{path}: no such gallery file (enroll someone first: tools/gallery.py enroll)")
        self.path = str(path)


class ModelMismatchError(ValueError):
    """A gallery's embeddings were made by another model than the one given; the message names both."""


class WorkdirInUseError(RuntimeError):
    """Another live process holds the workdir's lock (``workdir.WorkdirLock``); the message names it."""
