"""Built-in data sets, generated in code: `builtin:NAME?option=value` needs no download.

To add one, write a module in this package whose generator is decorated with
`@register_builtin("name")` and add the module to `_GENERATOR_MODULES`. The generator's keyword
parameters are its options: users set them as strings (`builtin:corpus?docs=2000&seed=3`) and
`load_builtin` converts them by the parameters' annotations (int, float, bool or str).
"""

import importlib
import inspect
import typing
from typing import Callable

from lmlearn.errors import LmlearnError

Generator = Callable[..., list[dict]]

# Imported on first use, so that registering stays a side effect of the generator's own module
# and importing lmlearn does not build any data.
_GENERATOR_MODULES = ("corpus", "sorting", "word_lists", "tasks.sentiment", "tasks.nli", "tasks.paraphrase", "tasks.topic", "tasks.math",
                      "tasks.strings", "tasks.closed_qa", "tasks.word_translation", "tasks.ner", "tasks.squad", "tasks.similarity",
                      "tasks.relations",
                      "openings")
_REGISTRY: dict[str, Generator] = {}
_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def register_builtin(name: str) -> Callable[[Generator], Generator]:
    """Decorator: make `fn(seed: int = 0, **options) -> list[dict]` loadable as `builtin:<name>`."""

    def decorate(fn: Generator) -> Generator:
        known = _REGISTRY.get(name)
        # The same function may be registered again when its module is reloaded.
        if known is not None and (known.__module__, known.__qualname__) != (fn.__module__, fn.__qualname__):
            raise LmlearnError(f"builtin:{name} is registered twice: by {known.__module__} and by {fn.__module__}")
        _REGISTRY[name] = fn
        return fn

    return decorate


def _import_generators() -> None:
    for module in _GENERATOR_MODULES:
        importlib.import_module(f"{__name__}.{module}")


def builtin_names() -> list[str]:
    """The names that `builtin:NAME` accepts, sorted."""
    _import_generators()
    return sorted(_REGISTRY)


def _option_types(fn: Generator) -> dict[str, type]:
    hints = typing.get_type_hints(fn)
    types = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default_type = type(param.default) if param.default is not param.empty else str
        types[param.name] = hints.get(param.name, default_type)
    return types


def _convert(name: str, key: str, raw: object, kind: type) -> object:
    text = str(raw).strip()
    try:
        if kind is bool:
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError(text)
            return text.lower() in _TRUE
        return kind(text)
    except ValueError:
        expected = _TYPE_NAMES.get(kind, kind.__name__)
        raise LmlearnError(f"builtin:{name}: option {key}={text!r} must be {expected}") from None


def load_builtin(name: str, options: dict[str, str]) -> list[dict]:
    """Rows of the built-in data set `name`, with `options` (strings) converted to its parameter types."""
    names = builtin_names()
    if name not in _REGISTRY:
        raise LmlearnError(f"unknown built-in data set 'builtin:{name}'; available: {', '.join(names)}")
    fn = _REGISTRY[name]
    types = _option_types(fn)
    kwargs = {}
    for key, raw in options.items():
        if key not in types:
            raise LmlearnError(f"builtin:{name} has no option '{key}'; its options are: {', '.join(types)}")
        kwargs[key] = _convert(name, key, raw, types[key])
    return fn(**kwargs)
