"""The size limits of ../ARCHITECTURE ("one idea per file"): no module in signdistill/ past 400 lines,
no function past 60 lines of code. A file or function that grows past them holds two ideas; split it."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "signdistill"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _comment_or_blank_lines(source: str) -> set[int]:
    """Line numbers that hold no code: blank, or only a comment (a string's own lines are code)."""
    code: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code.update(range(tok.start[0], tok.end[0] + 1))
    return set(range(1, source.count("\n") + 2)) - code


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return set()


def function_sizes(path: Path) -> list[tuple[str, int]]:
    """``(qualified name, lines of code)`` of every function in ``path``, nested ones too (they also count
    in the function around them). Lines of code: from ``def`` to the last line, not counting blank lines,
    comment-only lines and the docstring; decorators are not counted."""
    source = path.read_text(encoding="utf-8")
    no_code = _comment_or_blank_lines(source)
    sizes: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = set(range(child.lineno, (child.end_lineno or child.lineno) + 1)) - no_code - _docstring_lines(child)
                sizes.append((prefix + child.name, len(lines)))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source, filename=str(path)), "")
    return sizes


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def test_no_module_is_longer_than_400_lines():
    offenders = []
    for path in _modules():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE_LINES:
            offenders.append(f"{_rel(path)}: {n} lines")
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines (two ideas share a room; split them):\n" + "\n".join(offenders)


def test_no_function_is_longer_than_60_lines_of_code():
    offenders = [f"{_rel(path)}:{name}:{n}" for path in _modules() for name, n in function_sizes(path) if n > MAX_FUNCTION_LINES]
    assert not offenders, (
        f"functions over {MAX_FUNCTION_LINES} lines of code (blank, comment and docstring lines not counted; "
        "give the parts their own functions):\n" + "\n".join(offenders)
    )


def test_the_counter_skips_blank_comment_and_docstring_lines(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        'def f(x):\n    """Doc\n\n    more doc."""\n    # a comment\n\n    y = """a\n\n# not a comment\n"""\n'
        "    def g():\n        return 1\n    return x  # trailing comment\n\n\nclass C:\n    def h(self):\n        pass\n"
    )
    assert function_sizes(src) == [("f", 8), ("f.g", 2), ("C.h", 2)]
