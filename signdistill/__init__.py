"""signdistill: CTC models for continuous sign language recognition and their distillation.

The top-level package is deliberately light: importing it (or ``signdistill.losses``)
pulls in nothing but the standard library; torch is imported by the subpackages that
need it, and the CLI stack (typer, rich, pydantic) only by ``signdistill.cli``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
