"""adaptermix: train, mix, analyse and prune domain-specific adapters on one frozen encoder.

Implements Nguyen & Le (2024), "Generalizability of Mixture of Domain-Specific Adapters from the
Lens of Signed Weight Directions and its Application to Effective Model Pruning" (ACL 2024).
"""

from __future__ import annotations

__version__ = "0.1.0"
