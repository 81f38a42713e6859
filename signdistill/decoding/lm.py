"""Gloss n-gram language models in ARPA format, with interpolated modified Kneser-Ney.

pip's ``kenlm`` only queries models (its ``lmplz`` builder is a separate C++ binary), so
signdistill estimates the model itself. The estimator follows Chen & Goodman (1998) as
KenLM's ``lmplz`` implements it:

* the highest order uses raw counts; lower orders use *continuation* counts (the number of
  distinct words seen before the n-gram), except n-grams that start with ``<s>``;
* three discounts per order from the counts-of-counts ``n1..n4``:
  ``Y = n1 / (n1 + 2 n2)``, ``D1 = 1 - 2Y n2/n1``, ``D2 = 2 - 3Y n3/n2``, ``D3+ = 3 - 4Y n4/n3``;
* interpolation, with the unigrams interpolated with the uniform distribution:
  ``p(w|h) = (a(hw) - D(a(hw))) / a(h.) + gamma(h) p(w|h')``,
  ``gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / a(h.)``.

The ARPA file stores ``log10 p(w|h)`` for every seen n-gram and ``log10 gamma`` as the
back-off weight of every context, which is exactly ARPA's back-off semantics. On corpora
too small for the count-of-counts formula (some ``n_k`` = 0), the discounts fall back to
``0.5, 1.0, 1.5`` (clipped to stay below the count they discount).
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from signdistill.errors import SignDistillError

# First line of every ARPA file signdistill writes. KenLM skips lines starting with "#"
# before \data\; the line tells `lm build` which files it may replace with --overwrite.
SIGNATURE = "# signdistill gloss LM (interpolated modified Kneser-Ney)"

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
Gram = tuple[str, ...]


def _discounts(counts: Counter[Gram]) -> tuple[float, float, float]:
    coc = Counter(min(c, 4) for c in counts.values())
    n1, n2, n3, n4 = (coc.get(k, 0) for k in (1, 2, 3, 4))
    fallback = (0.5, 1.0, 1.5)
    if min(n1, n2, n3, n4) == 0:
        return fallback
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk < k + 1 for k, dk in enumerate(d)):
        return fallback
    return d


def _count_ngrams(sentences: Iterable[Sequence[str]], order: int) -> tuple[Counter[Gram], set[str]]:
    """Raw counts of every n-gram (n = 1..order) of ``<s> words </s>``, and the vocabulary."""
    raw: Counter[Gram] = Counter()
    vocab: set[str] = set()
    n_sent = 0
    for sent in sentences:
        words = [w for w in sent if w not in (BOS, EOS)]
        vocab.update(words)
        toks = [BOS, *words, EOS]
        n_sent += 1
        for n in range(1, order + 1):
            for i in range(len(toks) - n + 1):
                raw[tuple(toks[i : i + n])] += 1
    if n_sent == 0:
        raise SignDistillError("Cannot build a language model from zero transcripts.")
    return raw, vocab


def _adjusted_counts(raw: Counter[Gram], order: int) -> dict[int, Counter[Gram]]:
    """Kneser-Ney adjusted counts a(g) per order."""
    # Adjusted counts a(g): raw for the top order and for n-grams starting with <s>;
    # continuation counts (distinct left neighbours) otherwise.
    left: dict[Gram, set[str]] = defaultdict(set)
    for g in raw:
        if len(g) >= 2:
            left[g[1:]].add(g[0])
    adjusted: dict[int, Counter[Gram]] = {n: Counter() for n in range(1, order + 1)}
    for g, c in raw.items():
        n = len(g)
        if n == order or g[0] == BOS:
            adjusted[n][g] = c
        else:
            adjusted[n][g] = len(left[g]) if g in left else c
    adjusted[1].pop((BOS,), None)
    return adjusted


def estimate_kneser_ney(sentences: Iterable[Sequence[str]], order: int = 3) -> dict[int, dict[Gram, tuple[float, float | None]]]:
    """Return ``{n: {ngram: (log10 prob, log10 backoff or None)}}`` for n = 1..order."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    raw, vocab = _count_ngrams(sentences, order)
    adjusted = _adjusted_counts(raw, order)
    discounts = {n: _discounts(adjusted[n]) for n in adjusted}

    # Per context: total adjusted count and how many continuations have count 1, 2, 3+.
    ctx_total: dict[Gram, float] = defaultdict(float)
    ctx_nk: dict[Gram, list[int]] = defaultdict(lambda: [0, 0, 0])
    for counts in adjusted.values():
        for g, c in counts.items():
            ctx_total[g[:-1]] += c
            ctx_nk[g[:-1]][min(c, 3) - 1] += 1

    def gamma(h: Gram) -> float:
        d = discounts[len(h) + 1]
        nk = ctx_nk[h]
        return (d[0] * nk[0] + d[1] * nk[1] + d[2] * nk[2]) / ctx_total[h]

    def disc(c: float, n: int) -> float:
        d = discounts[n]
        return c - (d[0] if c == 1 else d[1] if c == 2 else d[2])

    words = sorted(vocab | {EOS, UNK})
    uniform = 1.0 / len(words)
    probs: dict[int, dict[Gram, float]] = {n: {} for n in adjusted}
    g0 = gamma(())
    for w in words:
        c = adjusted[1].get((w,), 0)
        probs[1][(w,)] = (max(disc(c, 1), 0.0) if c else 0.0) / ctx_total[()] + g0 * uniform
    for n in range(2, order + 1):
        for g, c in adjusted[n].items():
            probs[n][g] = disc(c, n) / ctx_total[g[:-1]] + gamma(g[:-1]) * probs[n - 1][g[1:]]
    out: dict[int, dict[Gram, tuple[float, float | None]]] = {n: {} for n in probs}
    for n, table in probs.items():
        for g, p in table.items():
            bo = math.log10(gamma(g)) if n < order and g in ctx_total else None
            out[n][g] = (math.log10(p), bo)
    # <s> is never predicted; it only starts contexts.
    out[1][(BOS,)] = (-99.0, math.log10(gamma((BOS,))) if order > 1 and (BOS,) in ctx_total else None)
    return out


def write_arpa(model: dict[int, dict[Gram, tuple[float, float | None]]], path: str | os.PathLike[str]) -> Path:
    """Write an estimated model as an ARPA file (atomically)."""
    from signdistill.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(SIGNATURE + "\n")
        f.write("\\data\\\n")
        for n in sorted(model):
            f.write(f"ngram {n}={len(model[n])}\n")
        for n in sorted(model):
            f.write(f"\n\\{n}-grams:\n")
            for g in sorted(model[n]):
                lp, bo = model[n][g]
                line = f"{lp:.7f}\t{' '.join(g)}"
                if bo is not None:
                    line += f"\t{bo:.7f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")
    return path


def build_arpa(transcripts: Iterable[Sequence[str]], out: str | os.PathLike[str], *, order: int = 3) -> Path:
    """Estimate an interpolated modified Kneser-Ney ``order``-gram LM and write it as ARPA."""
    return write_arpa(estimate_kneser_ney(transcripts, order), out)


def is_own_arpa(path: str | os.PathLike[str]) -> bool:
    """True for an ARPA file written by :func:`write_arpa` (its first line is :data:`SIGNATURE`)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\n") == SIGNATURE
    except (OSError, ValueError):
        return False


KENLM_BINARY_MAGIC = b"mmap lm http://kheafield.com/code"
_BUILD_HINT = "Build an ARPA LM with `signdistill lm build --manifest train.jsonl --out lm.arpa`."


def check_lm_file(path: str | os.PathLike[str], source: str = "") -> str:
    """Check that ``path`` is a language model KenLM can load, before KenLM sees it.

    Returns ``"binary"`` for a KenLM binary file (starts with KenLM's magic bytes) and
    ``"arpa"`` for an ARPA text file whose header is sound: optional blank and ``#`` comment
    lines (KenLM skips them; ``lm build`` writes one), then ``\\data\\``, then one
    ``ngram N=COUNT`` line per order 1, 2, ... and then ``\\1-grams:``. Only the header is
    read. Anything else raises :class:`SignDistillError` saying what is wrong, naming the file.
    """
    path = Path(path)
    where = f"{source}: " if source else ""
    what = f"{where}language model {path}"
    if not path.is_file():
        raise SignDistillError(f"{what} does not exist. {_BUILD_HINT}")
    try:
        with open(path, "rb") as fb:
            head = fb.read(len(KENLM_BINARY_MAGIC))
    except OSError as exc:
        raise SignDistillError(f"{what} cannot be read ({exc.strerror}).") from None
    if head == KENLM_BINARY_MAGIC:
        return "binary"
    if head[:2] == b"\x1f\x8b":
        raise SignDistillError(f"{what} is gzip-compressed; decompress it first (gunzip {path}).")
    return _check_arpa_header(path, what)


def _check_arpa_header(path: Path, what: str) -> str:
    """``"arpa"`` when the ARPA header of ``path`` is sound (see :func:`check_lm_file`); raises otherwise."""

    def bad(lineno: int, why: str) -> SignDistillError:
        return SignDistillError(f"{what} is not an ARPA language model: line {lineno} {why}. {_BUILD_HINT}")

    state, lineno = "start", 0
    orders: list[int] = []
    try:
        with open(path, encoding="utf-8", newline=None) as f:
            for lineno, raw in enumerate(f, start=1):
                if "\x00" in raw:
                    raise UnicodeDecodeError("utf-8", b"", 0, 1, "NUL byte")
                line = raw.strip()
                if state == "start":
                    if not line or line.startswith("#"):
                        continue
                    if line != "\\data\\":
                        raise bad(lineno, f"is '{line[:60]}', where the \\data\\ header should be")
                    state = "counts"
                elif state == "counts":
                    if not line and not orders:
                        continue
                    if line.startswith("ngram "):
                        n, _, count = line[len("ngram ") :].partition("=")
                        if not (n.strip().isdigit() and count.strip().isdigit()):
                            raise bad(lineno, f"is '{line[:60]}', not of the form 'ngram N=COUNT'")
                        if int(n) != len(orders) + 1:
                            raise bad(lineno, f"gives the count of {n.strip()}-grams where {len(orders) + 1}-grams are due")
                        orders.append(int(count))
                        continue
                    if not orders:
                        raise bad(lineno, f"is '{line[:60]}'; \\data\\ must be followed by 'ngram N=COUNT' lines")
                    if not line:
                        continue
                    if line != "\\1-grams:":
                        raise bad(lineno, f"is '{line[:60]}', where the \\1-grams: section should start")
                    if orders[0] == 0:
                        raise bad(lineno, "follows a header that counts no 1-grams ('ngram 1=0')")
                    return "arpa"
    except UnicodeDecodeError:
        raise SignDistillError(
            f"{what} is neither an ARPA text file (it is not UTF-8 text) nor a KenLM binary (it does not start with "
            f"{KENLM_BINARY_MAGIC.decode()!r}). {_BUILD_HINT}"
        ) from None
    except OSError as exc:
        raise SignDistillError(f"{what} cannot be read ({exc.strerror}).") from None
    if state == "start":
        raise SignDistillError(f"{what} is not an ARPA language model: it has no \\data\\ header. {_BUILD_HINT}")
    if not orders:
        raise SignDistillError(f"{what} is not an ARPA language model: \\data\\ is not followed by 'ngram N=COUNT' lines. {_BUILD_HINT}")
    raise SignDistillError(f"{what} is not an ARPA language model: the file ends after its header, before \\1-grams:. {_BUILD_HINT}")


def read_arpa(path: str | os.PathLike[str]) -> dict[int, dict[Gram, tuple[float, float]]]:
    """Parse an ARPA file; raises :class:`SignDistillError` naming the line if it is not one."""
    path = Path(path)
    if check_lm_file(path) == "binary":
        raise SignDistillError(f"{path} is a KenLM binary file; read_arpa reads ARPA text only.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SignDistillError(f"Language model {path} cannot be read as ARPA text ({exc}).") from None
    if "\\data\\" not in (ln.strip() for ln in lines[:50]):
        raise SignDistillError(
            f"{path} is not an ARPA language model (no \\data\\ header). Build one with "
            "`signdistill lm build --manifest train.jsonl --out lm.arpa`."
        )
    model: dict[int, dict[Gram, tuple[float, float]]] = {}
    n = 0
    for lineno, line in enumerate(lines, start=1):
        s = line.strip()
        if not s or s.startswith("ngram ") or s == "\\data\\":
            continue
        if s.startswith("\\") and s.endswith("-grams:"):
            n = int(s[1:].split("-")[0])
            model[n] = {}
            continue
        if s == "\\end\\":
            break
        if n == 0:
            continue
        parts = s.split("\t") if "\t" in s else s.split()
        try:
            lp = float(parts[0])
            if "\t" in s:
                gram = tuple(parts[1].split())
                bo = float(parts[2]) if len(parts) > 2 else 0.0
            else:
                gram = tuple(parts[1 : 1 + n])
                bo = float(parts[1 + n]) if len(parts) > 1 + n else 0.0
        except (ValueError, IndexError):
            raise SignDistillError(f"{path}, line {lineno}: not an ARPA n-gram entry: {s[:80]!r}.") from None
        model[n][gram] = (lp, bo)
    return model


def arpa_log10prob(model: dict[int, dict[Gram, tuple[float, float]]], context: Gram, word: str) -> float:
    """``log10 p(word | context)`` with ARPA back-off (a reference for tests and tools)."""
    order = max(model)
    context = context[-(order - 1) :] if order > 1 else ()
    bo_sum = 0.0
    while True:
        g = (*context, word)
        if g in model.get(len(g), {}):
            return bo_sum + model[len(g)][g][0]
        if not context:
            return bo_sum + model[1].get((UNK,), (-99.0, 0.0))[0]
        bo_sum += model[len(context)].get(context, (0.0, 0.0))[1]
        context = context[1:]
