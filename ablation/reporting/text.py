"""Plain tables of text cells -> Markdown or LaTeX. Pure functions; no knowledge of studies."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TextTable:
    """A formatted table: title, column headers, rows of cells, and notes that explain them."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    right: tuple[bool, ...] = ()  # right-align this column (numbers); default left


# "<" that opens a tag (a letter, "/", "!" or "?" follows) renders as HTML in Markdown viewers:
# a study name "<img src=x onerror=...>" would run. "<0.001" stays as it is.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")


def _md_cell(text: str) -> str:
    return _TAG_OPEN.sub("&lt;", text.replace("|", "\\|").replace("\n", " "))


def to_markdown(table: TextTable) -> str:
    """A GitHub-flavoured Markdown table under a heading, with the notes below it."""
    right = table.right or (False,) * len(table.header)
    lines = [f"### {_md_cell(table.title)}", "",
             "| " + " | ".join(_md_cell(h) for h in table.header) + " |",
             "|" + "|".join("---:" if r else ":---" for r in right) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    for note in table.notes:
        lines += ["", _TAG_OPEN.sub("&lt;", note)]
    return "\n".join(lines) + "\n"


# Characters LaTeX treats specially in text mode, and what prints them literally.
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
          "^": r"\textasciicircum{}", "±": r"$\pm$", "<": r"$<$", ">": r"$>$",
          "Δ": r"$\Delta$", "→": r"$\rightarrow$", "—": "--", "−": "-", "†": r"$^\dagger$",
          "≤": r"$\le$", "≥": r"$\ge$", "½": r"$\frac{1}{2}$", "²": r"$^2$", "∞": r"$\infty$",
          "Σ": r"$\Sigma$", "√": r"$\surd$", "≈": r"$\approx$"}


def latex_escape(text: str) -> str:
    """Text safe to put in a LaTeX document (special characters printed literally)."""
    return "".join(_LATEX.get(ch, ch) for ch in text)
