"""Which models run for a sample: decided here, once, and written into ``validation.json``.

The rule, Space Ranger's extended by ours:

* a model asked for with ``--cell-annotation-model`` runs, and refuses with the reason if
  it cannot label this sample; an ``exclusive`` model (markers, Azimuth by name) runs alone;
* otherwise every model whose ``default_for`` holds the sample's species runs as well
  (Pan-Human Azimuth for every human sample, as in Space Ranger, also beside a cloud model);
* when that leaves nothing, a model whose ``fallback_for`` holds the species runs (markers
  for mouse: Space Ranger serves mouse only from the cloud).

Every model left out gets its reason. The local pipeline follows the plan; the Nextflow
workflow routes samples by its ``steps`` and decides nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from cellannotate.annotators import registry
from cellannotate.annotators.base import TENX_CLOUD_TOKEN, Annotator
from cellannotate.errors import ModelError
from cellannotate.validation.report import ValidationReport

TOKEN_STEP = "CHECK_TOKEN"


@dataclass(frozen=True)
class Plan:
    """Models to run (in registry order) and why each other one is left out."""

    request: str | None
    models: list[Annotator]
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def steps(self) -> list[str]:
        """Workflow steps: the token check first when a model needs the token, then each model's step."""
        token = [TOKEN_STEP] if any(TENX_CLOUD_TOKEN in m.needs for m in self.models) else []
        return token + [m.step for m in self.models]

    def apply(self, report: ValidationReport) -> ValidationReport:
        """``report`` with this plan written into it."""
        return dataclasses.replace(report, requested_model=self.request, models=[m.name for m in self.models],
                                   models_left_out=dict(self.left_out), steps=self.steps)


def plan_models(report: ValidationReport, request: str | None = None) -> Plan:
    """Decide the models for the sample ``report`` describes; :class:`ModelError` if none can run."""
    asked = registry.by_choice(request) if request else None
    if asked is not None:
        reason = asked.unavailable(report, request)
        if reason:
            raise ModelError(f"cannot run --cell-annotation-model {request}: {reason}")
    planned, left_out = [], {}
    for model in registry.models():
        reason = _left_out(model, asked, report, request)
        if reason is None:
            planned.append(model)
        else:
            left_out[model.name] = reason
    if not planned:
        for model in registry.models():
            if report.species in model.fallback_for and model.unavailable(report, request) is None:
                planned.append(model)
                left_out.pop(model.name)
    if not planned:
        reasons = "; ".join(f"{name}: {why}" for name, why in left_out.items())
        raise ModelError(f"no model applies to this {report.species} sample ({reasons})")
    return Plan(request, planned, left_out)


def _left_out(model: Annotator, asked: Annotator | None, report: ValidationReport, request: str | None) -> str | None:
    """Why ``model`` does not run (``None``: it runs), before any fallback."""
    if model is asked:
        return None
    if asked is not None and asked.exclusive:
        return f"--cell-annotation-model {request} runs alone"
    if report.species not in model.default_for:
        return (model.unavailable(report, request)
                or f"runs when asked for (--cell-annotation-model {' / '.join(model.choices)})")
    return model.unavailable(report, request)


def leave_out(report: ValidationReport, model: Annotator, reason: str) -> ValidationReport:
    """``report`` with a planned model left out for ``reason`` (its inputs cannot be had), said in its
    plan and its warnings; the models asked for by name are never left out this way."""
    kept = [registry.get(name) for name in report.models if name != model.name]
    plan = Plan(report.requested_model, kept, {**report.models_left_out, model.name: reason})
    return dataclasses.replace(plan.apply(report), warnings=[*report.warnings, f"{model.title} left out: {reason}"])


def validate_and_plan(path: Path, request: str | None = None) -> ValidationReport:
    """Validate the matrix at ``path`` and write the plan for ``request`` into the report."""
    from cellannotate.validation.matrix import validate_matrix

    report = validate_matrix(path)
    return plan_models(report, request).apply(report)
