"""Adversarial attacks on adapters and mixtures (Nguyen & Le 2024, §5 "robustness"; issue 8).

White-box FGSM on word embeddings and black-box TextFooler, composed like TextAttack's recipes,
with offline resources (GloVe 6B 50d counter-fitted to WordNet 3.0; MiniLM standing in for USE).
"""

from __future__ import annotations

from adaptermix.attacks.api import (
    ATTACKS,
    AttackSpec,
    attack_examples,
    load_resources,
    sample_examples,
    score_perturbed,
)
from adaptermix.attacks.fgsm import fgsm_attack, fgsm_grid
from adaptermix.attacks.results import AttackRecord, Example, summarize
from adaptermix.attacks.textfooler import Resources, TextFoolerConfig, textfooler_attack
from adaptermix.attacks.wrapper import ModelWrapper

__all__ = [
    "ATTACKS", "AttackRecord", "AttackSpec", "Example", "ModelWrapper", "Resources", "TextFoolerConfig",
    "attack_examples", "fgsm_attack", "fgsm_grid", "load_resources", "sample_examples", "score_perturbed",
    "summarize", "textfooler_attack",
]
