"""Shared by the bench scripts: write one ``## <section>`` of docs/benchmarks.md, leaving the others alone.

Run as scripts (``.venv/bin/python bench/bench_x.py``), the scripts import it as ``from _docs import
write_section`` (their own folder is on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(section: str, text: str, doc: Path = DOC) -> None:
    """Replace the section whose heading line is ``section`` (up to the next ``## `` heading) with
    ``text``, or append ``text`` when the doc has no such section; ``text`` starts with the heading."""
    lines = doc.read_text().splitlines() if doc.exists() else ["# Benchmarks"]
    start = next((i for i, line in enumerate(lines) if line.strip() == section), None)
    new = text.rstrip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines = [*lines, "", *new]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines = [*lines[:start], *new, *([""] + lines[end:] if end < len(lines) else [])]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(lines) + "\n")
