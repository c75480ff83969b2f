"""Options shared by several commands, declared once so their names, defaults and help agree.

Each is the typer default of a parameter (typer reads the same `OptionInfo` for every command that uses
it). Mixer options go to `evaluation.spec.mix_specs`; attack options to `evaluation.spec.condition_specs`,
named as the `AttackSpec` field they set (`--attack-examples` ↔ `attack_examples`), whose defaults apply
when a flag is not given. A renamed option keeps its old spelling for one release (`renamed`).
"""

from __future__ import annotations

from typing import Any, TypeVar

import typer

from adaptermix.errors import ConfigError

T = TypeVar("T")

DENSITY = typer.Option(None, help="ties/dare/magnitude: share of entries kept (default 0.2).")
MAJORITY_SIGN = typer.Option(None, help="ties/dare_ties: total or frequency.")
SCOPE = typer.Option(None, help="ties/magnitude: trim per tensor (default), layer or global.")
REFERENCE = typer.Option("raw", help="raw (the paper's) or init (task vectors from the shared init).")
DARE_SEED = typer.Option(None, help="dare_linear/dare_ties: seed of the drop masks (default 0).")

EPSILON = typer.Option(None, help="fgsm: perturbation size on input embeddings (default 0.01, the paper's).")
ATTACK_EXAMPLES = typer.Option(None, help="fgsm/textfooler: examples attacked per target, a seeded sample "
                                          "(default 100).")
ATTACK_SEED = typer.Option(None, help="fgsm/textfooler: seed of the attacked sample (default 0).")
QUERY_BUDGET = typer.Option(None, help="textfooler: model queries per example (default: none).")
PRECISION = typer.Option("auto", help="auto (bf16 on GPU, and on CPU where a probe finds it faster), fp32 or bf16.")


def old(name: str) -> Any:
    """A hidden option under a renamed option's old spelling (kept one release; see `renamed`)."""
    return typer.Option(None, name, hidden=True)


def renamed(new_value: T | None, old_value: T | None, new: str, old_name: str) -> T | None:
    """The value of a renamed option, from its new or (with a one-line warning) its old spelling.

    Raises:
        ConfigError: both spellings given.
    """
    from adaptermix.deprecation import warn_renamed

    if old_value is None:
        return new_value
    if new_value is not None:
        raise ConfigError(f"{old_name} is the old name of {new}: give {new} only")
    warn_renamed(old_name, new)
    return old_value
