"""nox sessions: `nox` runs every check a submission must pass: `lint` (ruff check, ruff format
--check, the import-linter contracts), `typecheck` (mypy) and `tests` (pytest); `.ci/run` runs `nox`.
`nox -s tests` runs the tests alone.

torch is installed first, pinned to the CPU build this project is tested with
(TORCH_SPEC, default torch==2.13.0): a bare `torch` requirement would pull a multi-GB
CUDA build. Set TORCH_SPEC="torch" on a machine where that is what you want.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

# Cheapest first: the static checks take seconds, the tests many minutes.
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH_SPEC = os.environ.get("TORCH_SPEC", "torch==2.13.0")
PYTHON = os.environ.get("NOX_PYTHON", "3.11")


def _install(session: nox.Session, extras: str = "dev,all") -> None:
    session.install(TORCH_SPEC)
    session.install("-e", f".[{extras}]")
    session.run("pip", "check")  # the extras must install together (numpy<2 for pyctcdecode)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (pass pytest options after --, e.g. `nox -s tests -- -m "not slow"`).

    Installs the lm extra (kenlm compiles from source, a few minutes the first time; nox
    reuses the environment afterwards) so the beam-search tests run, not skip.
    """
    _install(session)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format, and the import-linter contracts in pyproject.toml (imports go only downward)."""
    session.install("ruff>=0.4", "import-linter>=2.1")
    session.run("ruff", "check", "signdistill", "tests", "benchmarks", "examples", "noxfile.py", *session.posargs)
    session.run("ruff", "format", "--check", "signdistill", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("lint-imports")  # reads the package's source from the repository root; no install needed


# typecheck runs in the tests session's environment instead of building its own: the `all` extra
# compiles kenlm from source (minutes on a 2-core CI machine), and mypy should see the same
# installed packages the tests run against. nox gives every session its own environment, named
# after the session, so this session has none (python=False): it has nox install the tests
# session's environment (`--install-only`: created once, reused and brought up to date after)
# and runs that environment's mypy.
@nox.session(python=False)
def typecheck(session: nox.Session) -> None:
    """mypy on the package, in the tests session's environment (installed first if need be)."""
    envdir = session.cache_dir.parent  # nox's --envdir, .nox by default; .cache is nox's own folder there
    session.run(sys.executable, "-m", "nox", "--session", "tests", "--install-only", "--envdir", str(envdir), external=True)
    mypy = Path(envdir, "tests", "Scripts" if sys.platform == "win32" else "bin", "mypy")
    session.run(str(mypy), "signdistill", *session.posargs, external=True)


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Run a benchmark script: `nox -s benchmarks -- benchmarks/padded_lstm.py`."""
    _install(session)
    session.run("python", *(session.posargs or ["benchmarks/padded_lstm.py"]))


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Regenerate the configuration and CLI references, then build the site with mkdocs --strict."""
    _install(session, "docs")
    session.run(
        "python",
        "-c",
        "from signdistill.config import reference_markdown; open('docs/configuration.md', 'w').write(reference_markdown() + '\\n')",
    )
    session.run("typer", "signdistill.cli", "utils", "docs", "--name", "signdistill", "--output", "docs/cli.md")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
