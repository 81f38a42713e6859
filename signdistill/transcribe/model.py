"""Loading a checkpoint or an export of any format for transcription (torch-free for ONNX).

The loading itself lives in :mod:`signdistill.formats` and the runnable model in
:mod:`signdistill.runner`; the names stay importable from here.
"""

from __future__ import annotations

from signdistill.formats import CHECKPOINT_META, ONNX_FILE, ONNX_META, load_model, model_format, model_kind
from signdistill.runner import Model

__all__ = ["CHECKPOINT_META", "ONNX_FILE", "ONNX_META", "Model", "load_model", "model_format", "model_kind"]
