"""``python -m signdistill.config > docs/configuration.md``: print the configuration reference."""

from signdistill.config.reference import reference_markdown

print(reference_markdown())
