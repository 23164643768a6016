"""Synthetic faces for tests: faceflt.evaluation.synthetic, with the names the tests use."""

from faceflt.evaluation.synthetic import sample, truth
from faceflt.evaluation.synthetic import truth_landmarks as landmarks

__all__ = ["landmarks", "sample", "truth"]
