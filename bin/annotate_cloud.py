#!/usr/bin/env python3
"""Annotation step: label cells with a 10x Cloud model (human or mouse, needs a token); the model is the one validate_matrix.py was asked for, else auto."""

from cellannotate.entry import interrupt_quietly

interrupt_quietly()  # before the imports: Ctrl-C while they load is one line too

from cellannotate.cli_steps import annotate_step_app
from cellannotate.cli_support import run_app

app = annotate_step_app("10x_cloud", __doc__)

if __name__ == "__main__":
    run_app(app)
