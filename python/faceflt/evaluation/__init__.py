"""Measuring what FLT does: identity transfer against the reference person's own video, expression
fidelity and jitter of landmark sequences (``transfer.py``), and the paper's video protocol (``identity.py``)."""

from .features import FEATURES, distance, identity_features
from .metrics import EXPRESSION_FEATURES, expression_features, jitter

__all__ = ["EXPRESSION_FEATURES", "FEATURES", "distance", "expression_features", "identity_features", "jitter"]
