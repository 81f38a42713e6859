"""Defaults that several floors share, defined once: the config schemas, the library and the CLI refer to these.

Standard library only, on the ground floor (the config, the decoders and the CLI all import it).
"""

from __future__ import annotations

BEAM_WIDTH = 10
"""Hypotheses kept per frame by beam search (``DecoderConfig``, ``tune-decoder``, compare's ``lm``)."""

BEAM_BACKEND = "pyctcdecode"
"""The beam search backend used unless one is named (``pyctcdecode`` or ``flashlight``)."""

TEACHER_TOPK = 16
"""Classes per frame a stored teacher keeps (``cache-teacher``, ``import-teacher``)."""
