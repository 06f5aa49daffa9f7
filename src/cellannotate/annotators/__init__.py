"""Step 3-4: the annotation models, one object each, in one registry, and the plan of which run.

Built in, in the order they run: the 10x Cloud, Pan-Human Azimuth, the offline model distilled
from it (only when asked for), markers.
"""

from cellannotate.annotators import registry
from cellannotate.annotators.azimuth import AzimuthAnnotator
from cellannotate.annotators.base import Annotator, ModelOptions, annotate_step, run_model
from cellannotate.annotators.cloud import CloudAnnotator
from cellannotate.annotators.distill import DistilledAnnotator
from cellannotate.annotators.markers import MarkersAnnotator

for _model in (CloudAnnotator(), AzimuthAnnotator(), DistilledAnnotator(), MarkersAnnotator()):
    registry.register(_model)

__all__ = ["Annotator", "ModelOptions", "annotate_step", "registry", "run_model"]
