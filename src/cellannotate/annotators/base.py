"""What an annotation model is: one object with the same face, whatever it runs on.

Every model (Pan-Human Azimuth, the 10x Cloud, markers, and any added later) is an
:class:`Annotator`: it says which samples it applies to, what it needs and which options a
user may set (:class:`ModelOption`, declared once), resolves its inputs once
(:meth:`Annotator.prepare`), and labels an open matrix (:meth:`Annotator.annotate`) into a
:class:`~cellannotate.celltypes.CellTypeTable`. The planner, the CLI, the local pipeline, the
``bin/`` steps, the report and the Nextflow files read models from the registry
(:mod:`cellannotate.annotators.registry`) and nothing else.

This module is imported by every command before its options are parsed, so it imports
nothing heavy: models import their engines inside :meth:`Annotator.prepare` and
:meth:`Annotator.annotate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from cellannotate.errors import UsageError

if TYPE_CHECKING:
    from cellannotate.celltypes import CellTypeTable
    from cellannotate.io.tenx_h5 import TenxMatrix
    from cellannotate.validation.report import ValidationReport

TENX_CLOUD_TOKEN = "tenx_cloud_token"


@dataclass(frozen=True)
class ModelOption:
    """One setting of a model, declared once; every surface is made from or checked against it.

    The command-line flag is ``--<name with dashes>`` (in ``cellannotate annotate`` and the
    model's ``bin/`` step), the Nextflow parameter is ``params.<name>``; the Nextflow schema
    and ``conf/models.config`` are generated from these fields (``scripts/sync_nextflow.py``).

    Attributes
    ----------
    name : Python identifier and Nextflow parameter, e.g. ``markers_tissue``.
    help : one sentence for ``--help`` and the schema's description.
    type : ``str``, ``int``, ``float`` or ``Path``.
    default : the value when the option is not given (``None``: the model decides, as ``help`` says).
    choices : the values allowed, if a fixed set.
    minimum : the smallest number allowed.
    details : longer help for the Nextflow schema's ``help_text``.
    path_kind : for a ``Path``: ``file``, ``directory`` or ``path`` (either).
    staged : a ``Path`` that a workflow may copy to where the step runs; ``False`` for a file
        that must be read in place and never copied (a secret's file).
    hidden : left out of the Nextflow schema's default ``--help`` (developer settings).
    """

    name: str
    help: str
    type: type = str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    details: str = ""
    path_kind: str = "file"
    staged: bool = True
    hidden: bool = False

    @property
    def flag(self) -> str:
        """The command-line flag: the name with dashes."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """``value`` if it is allowed (the CLI checks the same through Click), else :class:`UsageError`."""
        if value is None:
            return None
        if self.choices and value not in self.choices:
            raise UsageError(f"{self.flag} {value}: choose one of {', '.join(self.choices)}")
        if self.minimum is not None and value < self.minimum:
            raise UsageError(f"{self.flag} must be at least {self.minimum:g}, not {value}")
        return Path(value) if self.type is Path else value


CHUNK_CELLS = ModelOption(
    "chunk_cells", "Cells read and labelled at a time by the streamed models (default: each model's own; "
    "memory grows with it).", type=int, minimum=1, hidden=True,
    details="Azimuth reads 8,192 cells at a time, panhuman_distill and markers 10,000. Larger chunks use "
            "more memory and change no label.")
UMAP_CELLS = ModelOption(
    "umap_cells", "Samples up to this many cells get a UMAP of every cell (.h5ad obsm X_umap); larger ones a "
    "UMAP of the 5,000 cells the report draws, the others NaN. 0: no UMAP (a PCA).", type=int, default=20_000,
    minimum=0,
    details="A UMAP of 20,000 cells takes about 10 s and one of 5,000 about 3 s, after about 10 s of compiling "
            "per process; a million cells would take many minutes (README, Performance). The .h5ad carries every "
            "model's embedding (obsm X_<model>_embedding) for sc.pp.neighbors and sc.tl.umap on the whole sample.")


class Annotator:
    """One annotation model. Subclasses set the class attributes and implement :meth:`annotate`.

    Attributes
    ----------
    name : registry key, e.g. ``azimuth``.
    folder : output folder under ``cell_types/``, e.g. ``Azimuth``.
    title : what the report calls it.
    step : the workflow step (Nextflow process) that runs it; its ``bin/`` script is
        ``annotate_<step without ANNOTATE_, lower case>.py``.
    choices : ``--cell-annotation-model`` values that ask for it.
    species : species it can label.
    default_for : species it labels when nothing asked for runs alone (Space Ranger runs
        Azimuth for every human sample).
    fallback_for : species it labels when no other model would.
    exclusive : asked for, it runs alone.
    needs : inputs beyond the matrix (e.g. :data:`TENX_CLOUD_TOKEN`), for the workflow and help.
    options : the settings a user may give it; shared ones (:data:`CHUNK_CELLS`) are the same object.
    publishes : files of its folder that are published beside ``cell_types.csv`` (raw results).
    """

    name: ClassVar[str]
    folder: ClassVar[str]
    title: ClassVar[str]
    step: ClassVar[str]
    choices: ClassVar[tuple[str, ...]] = ()
    species: ClassVar[tuple[str, ...]] = ("human", "mouse")
    default_for: ClassVar[tuple[str, ...]] = ()
    fallback_for: ClassVar[tuple[str, ...]] = ()
    exclusive: ClassVar[bool] = False
    needs: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[tuple[ModelOption, ...]] = ()
    publishes: ClassVar[tuple[str, ...]] = ()

    def unavailable(self, report: ValidationReport, request: str | None) -> str | None:
        """Why this model cannot label this sample, or ``None`` when it can."""
        if report.species not in self.species:
            return f"{self.title} is for {' or '.join(self.species)} samples; this one is {report.species}"
        return None

    def option_values(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """This model's options from ``given`` (any mapping of option names; others are ignored),
        checked, with the declared defaults filled in: what :meth:`prepare` receives."""
        given = given or {}
        return {o.name: o.check(given[o.name]) if given.get(o.name) is not None else o.default
                for o in self.options}

    def prepare(self, options: Mapping[str, Any]) -> Any:
        """Resolve and check this model's inputs once, before any cell is read; passed to :meth:`annotate`.

        ``options`` holds every declared option by name (see :meth:`option_values`).
        """
        return None

    def annotate(self, matrix: TenxMatrix, report: ValidationReport, inputs: Any, scratch: Path) -> CellTypeTable:
        """Label every cell of ``matrix``; large by-products may be written to ``scratch`` and attached."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
