"""Scoring: WER with sclite's S/D/I breakdown, paired bootstrap intervals, reports."""

from signdistill.evaluation.wer import WerResult, word_error_rate

__all__ = ["WerResult", "word_error_rate"]
