"""Measuring what FLT does: identity transfer, expression fidelity and jitter of landmark sequences."""

from .metrics import (EXPRESSION_FEATURES, LandmarkScores, expression_features, frontalize, identity_features,
                      identity_transfer, jitter, score_landmarks)

__all__ = ["EXPRESSION_FEATURES", "LandmarkScores", "expression_features", "frontalize", "identity_features", "identity_transfer", "jitter", "score_landmarks"]
