"""A Table as booktabs LaTeX that compiles: every special character escaped, true minus
signs, stars as superscripts, group headers with ``\\multicolumn`` and ``\\cmidrule``.

English tables compile with pdflatex and need ``\\usepackage{booktabs}`` and
``\\usepackage{graphicx}`` (a table wider than the text is scaled to fit); tables
with Chinese text need xelatex with ctex (``\\documentclass{ctexart}`` or
``\\usepackage{ctex}``), see docs/outputs.md.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from policylab.report.numbers import Num

__all__ = ["escape", "table_to_latex"]

_SPECIAL = {
    "\\": r"$\backslash$", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\~{}", "^": r"\^{}",
    "<": "$<$", ">": "$>$", "|": r"$|$",
    # characters outside pdflatex's default (T1/OT1 + utf8) repertoire that tables use
    "\u2212": "$-$", "\u00b2": r"\textsuperscript{2}", "\u00b3": r"\textsuperscript{3}",
    "\u00d7": r"$\times$", "\u2013": "--", "\u2014": "---", "\u2264": r"$\leq$",
    "\u2265": r"$\geq$", "\u00b1": r"$\pm$", "\u2248": r"$\approx$", "\u2260": r"$\neq$",
    "\u2192": r"$\rightarrow$", "\u00a0": "~", "\u2026": r"\ldots{}", "\u0304": "",
    "\u2018": "`", "\u2019": "'", "\u201c": "``", "\u201d": "''",
}
_GREEK = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi o pi rho " \
         "varsigma sigma tau upsilon phi chi psi omega".split()
for _i, _name in enumerate(_GREEK):
    if _name not in ("o", "varsigma"):
        _SPECIAL[chr(0x3B1 + _i)] = rf"$\{_name}$"
_SPECIAL.update({"\u0394": r"$\Delta$", "\u03a3": r"$\Sigma$", "\u03a9": r"$\Omega$"})
_PATTERN = re.compile("|".join(re.escape(k) for k in _SPECIAL))
_NUMERIC = re.compile(r"^[(\[]?-?\d[\d,]*(\.\d+)?(e[+-]\d+)?\*{0,3}[)\]]?$|^<0\.001$")


def escape(text: str) -> str:
    """``text`` as LaTeX source that typesets literally (one pass, so escapes are not
    escaped again)."""
    return _PATTERN.sub(lambda m: _SPECIAL[m.group(0)], text)


def _stars(text: str) -> str:
    return re.sub(r"(\*+)", lambda m: "$^{" + m.group(1) + "}$", text)


def _number(text: str) -> str:
    # stars become a superscript; a minus before a digit becomes a true minus
    out = escape(text)
    out = _stars(out)
    return re.sub(r"(?<![\w.])-(?=\d)", "$-$", out)


def _cell(text: str, value: object) -> str:
    if isinstance(value, Num) or (value is None and _NUMERIC.match(text.strip())):
        return _number(text)
    return escape(text)


#: the report's own numbering in a title ("Table 5. ", "表5 "): LaTeX numbers its
#: floats itself (\caption, \ref), so a caption keeps the words only
_NUMBERED = re.compile(r"^(Table\s+\d+[.:]?|表\s*\d+[.:：]?)\s*")


#: columns from which a table is set in \footnotesize (descriptives, balance tests)
_WIDE = 8


def caption_text(title: str) -> str:
    """The title without the report's own "Table 5. " / "表5 " numbering."""
    return _NUMBERED.sub("", title, count=1)


def _note(text: str) -> str:
    # stars as superscripts; a minus before a number (not a range 2000-2018) a true minus
    return re.sub(r"(?<![\w.])-(?=\d)", "$-$", _stars(escape(text)))


def default_label(table: Any) -> str:
    """``tab:`` and a name from the title (ASCII words, else a short hash)."""
    title = caption_text(table.title or "")
    words = re.findall(r"[A-Za-z0-9]+", title)
    if words:
        return "tab:" + "-".join(w.lower() for w in words)[:40]
    if not title:
        return "tab:table"
    return "tab:" + hashlib.sha1(title.encode()).hexdigest()[:8]


def _header_lines(table: Any) -> list[str]:
    lines = []
    for i, row in enumerate(table.header):
        cells, rules, j = [], [], 0
        while j < table.ncols:
            text = row[j] if j < len(row) else ""
            span = table.spans.get((i, j), 1)
            if span > 1:
                cells.append(rf"\multicolumn{{{span}}}{{c}}{{{escape(text)}}}")
                if text:
                    rules.append(rf"\cmidrule(lr){{{j + 1}-{j + span}}}")
            else:
                cells.append(escape(text))
            j += span
        lines.append(" & ".join(cells) + r" \\")
        if rules:
            lines.append(" ".join(rules))
    return lines


def table_to_latex(table: Any, *, fragment: bool = False, label: str | None = None) -> str:
    """booktabs LaTeX of ``table``.

    Parameters
    ----------
    fragment : bool
        True: the ``tabular`` alone (no float, caption, label or notes), for
        ``\\input{}`` inside a table of your own, as esttab's ``fragment``.
        False: a complete ``table`` float with ``\\caption``, ``\\label`` and the notes.
    label : str, optional
        The ``\\label`` (default: the table's ``label``, else ``tab:`` + its title).
    """
    n = table.ncols
    body = [rf"\begin{{tabular}}{{l{'c' * (n - 1)}}}", r"\toprule", *_header_lines(table),
            r"\midrule"]
    for i, row in enumerate(table.body):
        vals = table.values[i] if i < len(table.values) else []
        cells = [row[j] if j < len(row) else "" for j in range(n)]
        body.append(" & ".join(
            _cell(c, vals[j] if j < len(vals) else None)
            for j, c in enumerate(cells)) + r" \\")
        if i in table.rules and i != len(table.body) - 1:
            body.append(r"\midrule")
    body += [r"\bottomrule", r"\end{tabular}"]
    if fragment:
        return "\n".join(body) + "\n"
    lines = [r"\begin{table}[htbp]", r"\centering"]
    if table.title:
        lines.append(rf"\caption{{{escape(caption_text(table.title))}}}")
    lines.append(rf"\label{{{label or table.label or default_label(table)}}}")
    if n >= _WIDE:  # many columns: a smaller face and tighter columns before any scaling
        lines.append(r"\footnotesize\setlength{\tabcolsep}{4pt}")
    # a table wider than the text is scaled down to fit (graphicx), never up
    lines += [r"\sbox0{%", *body[:-1], r"\end{tabular}}%",
              r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi"]
    if table.notes:
        lines += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        lines += [_note(x) + r"\par" for x in table.notes]
        lines.append(r"\end{minipage}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
