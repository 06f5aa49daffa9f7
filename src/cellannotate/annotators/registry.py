"""The models this tool knows, in the order they run and are reported.

Everything that needs the list of models (the planner, the CLI's choices and options, the
local pipeline, the ``bin/`` steps, the report, the generated Nextflow files) reads it here,
so adding a model is one :func:`register` call and its own subpackage.
"""

from __future__ import annotations

from cellannotate.annotators.base import Annotator, ModelOption
from cellannotate.errors import ModelError, UsageError

_MODELS: dict[str, Annotator] = {}


def register(model: Annotator) -> Annotator:
    """Add ``model``; its name, folder, step and choices must be new, and an option it shares
    with another model by name must be the same declaration (one name, one meaning)."""
    for other in _MODELS.values():
        clash = ({model.name, model.folder, model.step} & {other.name, other.folder, other.step}
                 or set(model.choices) & set(other.choices))
        if clash:
            raise ValueError(f"{model!r} clashes with {other!r} on {sorted(clash)}")
    for option in model.options:
        known = next((o for o in options() if o.name == option.name), option)
        if known != option:
            raise ValueError(f"{model!r} declares option {option.name} unlike another model does")
    _MODELS[model.name] = model
    return model


def unregister(name: str) -> None:
    """Remove a model (tests register toy models and take them away again)."""
    _MODELS.pop(name, None)


def models() -> list[Annotator]:
    """Every registered model, in the order they run and are reported."""
    return list(_MODELS.values())


def options() -> list[ModelOption]:
    """Every model's options, each once, in registry order (``cellannotate annotate`` offers them all)."""
    seen: dict[str, ModelOption] = {}
    for model in _MODELS.values():
        for option in model.options:
            seen.setdefault(option.name, option)
    return list(seen.values())


def get(name: str) -> Annotator:
    """The model registered as ``name``; :class:`ModelError` listing the known ones otherwise."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(_MODELS)}") from None


def by_folder(folder: str) -> Annotator | None:
    """The model whose output folder is ``folder``, if one is registered."""
    return next((m for m in _MODELS.values() if m.folder == folder), None)


def choices() -> tuple[str, ...]:
    """Every value ``--cell-annotation-model`` accepts, in registry order."""
    return tuple(choice for model in _MODELS.values() for choice in model.choices)


def by_choice(choice: str) -> Annotator:
    """The model a ``--cell-annotation-model`` value asks for."""
    for model in _MODELS.values():
        if choice in model.choices:
            return model
    raise UsageError(f"unknown --cell-annotation-model {choice!r}; choose one of {', '.join(choices())}")
