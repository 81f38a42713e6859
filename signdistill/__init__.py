"""signdistill: CTC models for continuous sign language recognition and their distillation.

The top-level package is deliberately light: importing it pulls in nothing but the standard
library. ``signdistill.losses`` and ``signdistill.models`` need torch alone (no pydantic, typer,
rich or yaml: an import-linter contract holds it), so the losses can be used in any training
code; the CLI stack (typer, rich) is imported only by ``signdistill.cli``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
