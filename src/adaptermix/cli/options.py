"""Mixer options shared by `mix` and `sweep`: declared once, so their names, defaults and help agree.

Each is the typer default of a parameter (typer reads the same `OptionInfo` for both commands); the
values go to `evaluation.spec.mix_specs`, which hands each to the mixers that take it.
"""

from __future__ import annotations

import typer

DENSITY = typer.Option(None, help="ties/dare/magnitude: share of entries kept (default 0.2).")
MAJORITY_SIGN = typer.Option(None, help="ties/dare_ties: total or frequency.")
SCOPE = typer.Option(None, help="ties/magnitude: trim per tensor (default), layer or global.")
REFERENCE = typer.Option("raw", help="raw (the paper's) or init (task vectors from the shared init).")
