"""Optional dependencies: each feature that needs one asks for it here, and a missing one is a
one-line error naming the extra that installs it (`make setup` installs them all)."""

from __future__ import annotations

import importlib
from types import ModuleType

# module -> (distribution, lmlearn extra)
EXTRAS = {
    "bitsandbytes": ("bitsandbytes", "qlora"),
    "gensim": ("gensim", "word2vec"),
    "matplotlib": ("matplotlib", "plots"),
    "tensorboard": ("tensorboard", "tensorboard"),
}


def require(module: str, what: str) -> ModuleType:
    """Import `module` (a top-level name in EXTRAS) for `what`, or stop with the install line."""
    from lmlearn.errors import LmlearnError

    distribution, extra = EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if err.name is not None and err.name.split(".")[0] != module:
            raise  # the package is there but one of its own imports failed: that is not a missing extra
        raise LmlearnError(f"{what} needs {distribution}, which is not installed: "
                           f"pip install 'lmlearn[{extra}]'") from err
