"""Measuring what FLT does: identity transfer, expression fidelity and jitter of landmark sequences."""

from .metrics import (EXPRESSION_FEATURES, LandmarkScores, expression_features, identity_features, jitter,
                      score_landmarks)

__all__ = ["EXPRESSION_FEATURES", "LandmarkScores", "expression_features", "identity_features", "jitter", "score_landmarks"]
