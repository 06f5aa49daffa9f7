#!/usr/bin/env python3
"""Annotation step (offline): label cells with the marker-based model, human or mouse."""

from cellannotate.entry import interrupt_quietly

interrupt_quietly()  # before the imports: Ctrl-C while they load is one line too

from cellannotate.cli_steps import annotate_step_app
from cellannotate.cli_support import run_app

app = annotate_step_app("markers", __doc__)

if __name__ == "__main__":
    run_app(app)
