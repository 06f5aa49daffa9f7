"""One definition per command-line option, shared by ``cellannotate`` and the ``bin/`` steps.

So that a flag means the same and says the same in every command. A model's own options are
not written here: each model declares them (:class:`~cellannotate.annotators.base.ModelOption`)
and :func:`with_model_options` turns the declarations into Typer parameters. Paths are never
checked by Click (``readable=False``): the code that opens them reports a problem in one
line with our exit codes, where Click would print a usage block.

Nothing numerical is imported here: ``--help`` must answer at once.
"""

from __future__ import annotations

import functools
import inspect
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from cellannotate.annotators import registry
from cellannotate.annotators.base import ModelOption
from cellannotate.sample_id import check_sample_id


def _path(default: Any, *flags: str, help: str):
    return typer.Option(default, *flags, readable=False, help=help)


def sample_id(help: str):
    """``--id``, checked as soon as it is parsed (Space Ranger's rule, see :mod:`cellannotate.sample_id`)."""
    return typer.Option(..., "--id", callback=check_sample_id, help=help)


def matrix():
    """``--matrix``: the 10x HDF5 every step reads."""
    return _path(..., "--matrix", help="Filtered feature-barcode matrix (10x HDF5), cell-segmented preferred.")


def validation():
    """``--validation``: the report ``validate_matrix.py`` wrote, which carries the plan of models."""
    return _path(..., "--validation", help="validation.json that validate_matrix.py wrote for this matrix "
                                           "(species, cell counts, the plan of models).")


def outdir(default: Path | None, help: str):
    """``--outdir``: where a command writes its folder."""
    return _path(default, "--outdir", help=help)


def _check_model(value: str | None) -> str | None:
    """Read the registry when the command line is parsed, so a model registered after import is offered too."""
    if value is not None and value not in registry.choices():
        raise typer.BadParameter(f"{value!r}: choose one of {', '.join(registry.choices())}")
    return value


def cell_annotation_model():
    """``--cell-annotation-model``: the registry's choices, described by the models themselves."""
    described = "; ".join(f"{' / '.join(m.choices)}: {m.title}" + (" alone" if m.exclusive else "")
                          for m in registry.models() if m.choices)
    return typer.Option(None, "--cell-annotation-model", callback=_check_model,
                        help=f"The model to run ({described}). Default: Pan-Human Azimuth for human samples, "
                             "markers for mouse samples.")


def cloupe(default: Any = None, help: str = "Loupe .cloupe file of the sample."):
    """``--cloupe``: the sample's Loupe file."""
    return _path(default, "--cloupe", help=help)


def annotations():
    """``--annotations``, repeated: the models' folders that output assembly gathers."""
    return _path(..., "--annotations", help="A model's annotation folder (e.g. Markers/); repeat per model.")


def loupe_converter():
    """``--loupe-converter``: 10x's louper, without which no .cloupe can be written."""
    return _path(None, "--loupe-converter", help="10x's louper executable, to write the annotated .cloupe "
                 "(default: $CELLANNOTATE_LOUPE_CONVERTER; without one no .cloupe is made).")


def spaceranger_outs():
    """``--spaceranger-outs``: a Visium HD run's folder, for where each cell lies."""
    return _path(None, "--spaceranger-outs", help="The Space Ranger output folder of a Visium HD run (outs/ or "
                 "outs/segmented_outputs/): adds where each cell lies (report tissue view, obsm['spatial']).")


def model_option(option: ModelOption):
    """The Typer parameter for a model's declared option: its flag, help, choices and bounds."""
    extra: dict[str, Any] = {}
    if option.type is Path:
        extra["readable"] = False
    if option.choices:
        extra["callback"] = _choice_check(option)
    if option.minimum is not None:
        extra["min"] = option.minimum
    choices = f" One of: {', '.join(option.choices)}." if option.choices else ""
    default = f" Default: {option.default}." if option.default is not None else ""
    return typer.Option(None, option.flag, help=option.help + choices + default, **extra)


def _choice_check(option: ModelOption) -> Callable:
    """A Click callback refusing values outside ``option.choices`` (a usage error, exit 2)."""
    def check(value: Optional[str]) -> Optional[str]:
        if value is not None and value not in option.choices:
            raise typer.BadParameter(f"{value!r}: choose one of {', '.join(option.choices)}")
        return value

    return check


def with_model_options(options: list[ModelOption]) -> Callable:
    """Decorate a command so that it also takes ``options`` (as flags) and receives their values,
    by name, in its ``**model_options``: the command's signature is its own plus the declarations."""

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command)
        own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
               if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=model_option(o),
                                   annotation=Optional[o.type]) for o in options]

        @functools.wraps(command)
        def wrapper(**values):
            given = {o.name: values.pop(o.name) for o in options}
            return command(**values, **given)

        wrapper.__signature__ = signature.replace(parameters=own + added)
        wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
        return wrapper

    return decorate
