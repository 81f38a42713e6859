"""The output formats of ``signdistill transcribe``: text, jsonl, ctm."""

from __future__ import annotations

import json

from signdistill.transcribe.segments import Transcript

FORMATS = ("text", "jsonl", "ctm")


def format_transcript(t: Transcript, fmt: str, *, fps: float = 25.0) -> str:
    """The output lines for one transcript (with a final newline; empty for a CTM without glosses).

    * ``text``: ``id<TAB>GLOSS GLOSS ...``
    * ``jsonl``: ``{"id", "glosses": [{"gloss", "start", "end", "confidence"}]}``, frames
    * ``ctm``: ``id 1 start duration GLOSS confidence`` per gloss, seconds at ``fps``
    """
    if fmt == "text":
        return f"{t.id}\t{' '.join(t.glosses)}\n"
    if fmt == "jsonl":
        glosses = [{"gloss": s.gloss, "start": s.start, "end": s.end, "confidence": round(s.confidence, 4)} for s in t.segments]
        return json.dumps({"id": t.id, "glosses": glosses}, ensure_ascii=False) + "\n"
    if fmt == "ctm":
        uid = "_".join(t.id.split())  # a CTM field holds no space (an id from a file name may)
        return "".join(f"{uid} 1 {s.start / fps:.3f} {(s.end - s.start) / fps:.3f} {s.gloss} {s.confidence:.4f}\n" for s in t.segments)
    raise ValueError(f"format {fmt!r} is not one of {list(FORMATS)}.")
