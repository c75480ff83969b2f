"""Evaluation of mixtures: the evaluator, the condition registry, the sweep engine and its backends.

The package is where the condition registry is assembled (lm-eval's pattern): `conditions` defines the
registry and `clean`; `robustness` registers the attack conditions beside their definitions and is
imported here, so every importer of any `adaptermix.evaluation` module sees the whole registry, and
no module imports one that imports it back.
"""

from __future__ import annotations

from adaptermix.evaluation import robustness as robustness  # registers fgsm and textfooler
