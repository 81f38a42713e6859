"""Scoring."""

from signdistill.evaluation.wer import WerResult, word_error_rate

__all__ = ["WerResult", "word_error_rate"]
