"""Re-exports `adaptermix.methods.precision` (its home since training uses it too)."""

from adaptermix.methods.precision import CPU_BF16_MIN_SPEEDUP, autocast, cpu_bf16_speedup, resolve_precision

__all__ = ["CPU_BF16_MIN_SPEEDUP", "autocast", "cpu_bf16_speedup", "resolve_precision"]
