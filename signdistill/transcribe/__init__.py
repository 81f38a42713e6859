"""Transcribe feature files with a checkpoint or any export (``signdistill transcribe``).

A model folder is a checkpoint or an export of any format; the format is read from the
folder's metadata (``model.json`` of an ONNX export, ``checkpoint.json``'s ``meta`` for the
others), never from its name. An ONNX export runs with numpy and onnxruntime alone: this
package imports torch only for the other formats.

Each output gloss comes with the frames it covers and a confidence:

* ``start`` / ``end``: the first frame and one past the last frame (0-based, at the feature
  rate) that the best CTC alignment of the transcript assigns to the gloss. For greedy
  decoding that alignment is the best path itself (argmax per frame): a gloss covers its
  run of identical argmax frames. For beam search it is the Viterbi forced alignment of the
  beam's transcript to the posteriors. CTC posteriors are peaky, so most glosses cover one
  or a few frames (a spike), not the whole sign.
* ``confidence``: the mean posterior probability of the gloss over those frames, in (0, 1].

The package: :mod:`~signdistill.transcribe.model` (loading any format: :mod:`signdistill.formats`),
:mod:`~signdistill.transcribe.inputs` (what to transcribe), :mod:`~signdistill.transcribe.segments`
(glosses with frames), :mod:`~signdistill.transcribe.run` (the batch loop),
:mod:`~signdistill.transcribe.formats` (text, jsonl, ctm), :mod:`~signdistill.transcribe.output`
(the output file, never written onto an input) and :mod:`~signdistill.transcribe.exports`
(scoring exports with ``evaluate``). Every public name is importable from here.
"""

from __future__ import annotations

from signdistill.transcribe.formats import FORMATS, format_transcript
from signdistill.transcribe.inputs import FEATURE_SUFFIXES as FEATURE_SUFFIXES
from signdistill.transcribe.inputs import MANIFEST_SUFFIXES as MANIFEST_SUFFIXES
from signdistill.transcribe.inputs import Failure, InputFile, collect_inputs
from signdistill.transcribe.model import CHECKPOINT_META as CHECKPOINT_META
from signdistill.transcribe.model import ONNX_FILE as ONNX_FILE
from signdistill.transcribe.model import ONNX_META as ONNX_META
from signdistill.transcribe.model import Model, load_model, model_format
from signdistill.transcribe.output import TranscriptFile, check_transcript_file, output_inputs, transcript_file
from signdistill.transcribe.run import transcribe
from signdistill.transcribe.segments import GlossSegment, Transcript, aligned_segments, greedy_segments

__all__ = [
    "FORMATS",
    "Failure",
    "GlossSegment",
    "InputFile",
    "Model",
    "Transcript",
    "TranscriptFile",
    "aligned_segments",
    "check_transcript_file",
    "collect_inputs",
    "format_transcript",
    "greedy_segments",
    "load_model",
    "model_format",
    "output_inputs",
    "transcribe",
    "transcript_file",
]
