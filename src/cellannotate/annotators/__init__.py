"""Step 3-4: the annotation models, one object each, in one registry, and the plan of which run.

Each model is a subpackage of this folder whose ``__init__.py`` defines ``MODEL``, its
:class:`~cellannotate.annotators.base.Annotator`; :data:`BUILT_IN` names them in the order
they run and are reported: the 10x Cloud, Pan-Human Azimuth, the offline model distilled
from it (only when asked for), markers.
"""

from importlib import import_module

from cellannotate.annotators import registry
from cellannotate.annotators.base import Annotator, ModelOption

BUILT_IN = ("cloud", "azimuth", "distill", "markers")

for _package in BUILT_IN:
    registry.register(import_module(f"{__name__}.{_package}").MODEL)

__all__ = ["Annotator", "ModelOption", "registry"]
