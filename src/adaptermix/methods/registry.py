"""Adapter methods of the paper, as thin presets over AdapterHub `adapters` configs.

Houlsby = `double_seq_bn` (a bottleneck after attention and after the FFN), Pfeiffer = `seq_bn`
(after the FFN only), LoRA = rank-4 updates of the attention query/value projections (PAPER.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters import DoubleSeqBnConfig, LoRAConfig, SeqBnConfig

from adaptermix.errors import ConfigError
from adaptermix.registry import Registry


@dataclass(frozen=True)
class AdapterMethod:
    """One adapter method: how to turn a size into an AdapterHub config.

    Attributes:
        name: our name (`houlsby`, `pfeiffer`, `lora`).
        adapterhub_name: the AdapterHub architecture string it maps to.
        bottleneck: True for bottleneck adapters (size = bottleneck width); False for LoRA
            (size = rank).
        default_size: bottleneck width or LoRA rank used when none is given.
    """

    name: str
    adapterhub_name: str
    bottleneck: bool
    default_size: int
    description: str

    def build_config(self, hidden_size: int, size: int | None = None) -> Any:
        """The AdapterHub config for an encoder of `hidden_size` and adapter `size`.

        Args:
            hidden_size: the encoder's hidden width.
            size: bottleneck width (houlsby/pfeiffer) or rank (lora); method default if None.

        Raises:
            ConfigError: a size that is not a positive integer, or wider than the encoder.
        """
        size = self.default_size if size is None else size
        if size <= 0:
            raise ConfigError(f"adapter size must be a positive integer, got {size}")
        if self.bottleneck:
            # AdapterHub parametrises the bottleneck by reduction factor = hidden / size; a float is
            # allowed, so any width works (e.g. 384 / 256 = 1.5 for MiniLM at the paper's size 256).
            rf = hidden_size / size
            cls = DoubleSeqBnConfig if self.adapterhub_name == "double_seq_bn" else SeqBnConfig
            return cls(reduction_factor=rf)
        if size > hidden_size:
            raise ConfigError(f"LoRA rank {size} exceeds the hidden size {hidden_size}: choose a smaller rank")
        # alpha = r keeps AdapterHub's default scaling alpha / r = 1 (its defaults are r = alpha = 8);
        # the paper gives only the rank.
        return LoRAConfig(r=size, alpha=size, selfattn_lora=True, attn_matrices=["q", "v"])


METHODS: Registry[AdapterMethod] = Registry("adapter method")
METHODS.register(
    "houlsby",
    AdapterMethod("houlsby", "double_seq_bn", True, 64, "Houlsby et al. 2019: after attention and FFN"),
    aliases=("double_seq_bn",),
)
METHODS.register(
    "pfeiffer",
    AdapterMethod("pfeiffer", "seq_bn", True, 64, "Pfeiffer et al. 2021: after the FFN only"),
    aliases=("seq_bn",),
)
METHODS.register(
    "lora",
    AdapterMethod("lora", "lora", False, 4, "Hu et al. 2022: rank-4 updates of attention q, v"),
)


def get_method(name: str) -> AdapterMethod:
    """The registered method `name` (or alias). Raises ConfigError listing the known ones."""
    return METHODS.get(name)
