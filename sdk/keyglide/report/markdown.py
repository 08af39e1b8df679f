"""The markdown summary of a release report, to paste into a pull request: the metrics with
their differences, who reads the file, what changed in its provenance and the review
examples whose suggestions changed. The HTML page has everything, with the charts."""

from __future__ import annotations

from keyglide.report import compare
from keyglide.report.collect import Side, plain
from keyglide.report.compare import ExampleRow

# Changed review examples listed in the summary (the page lists all).
MAX_EXAMPLES = 20


def render(
    new: Side, old: Side | None, rows: list[ExampleRow], *, text_files: list[tuple[str, str]]
) -> str:
    e = new.evaluation
    scope = f"first {e.words:,} words" if e.limit_words else f"all {e.words:,} words"
    lines = [
        f"## langdb release review: {new.title}"
        + (f" against {old.title}" if old else " (first release)"),
        "",
        f"Held-out text {', '.join(f'`{name}`' for name, _ in text_files)} "
        f"(typing on the {scope}, k = {e.k}; perplexity on the "
        "whole text). The full report (`index.html`) has the charts and every example. It "
        "informs the review; it approves nothing.",
        "",
        "| metric | baseline | new | change |",
        "| --- | ---: | ---: | ---: |",
    ]
    marks = {"better": " ▲", "worse": " ▼", "same": "", "": ""}
    for m in compare.metrics(new, old):
        lines.append(
            f"| {m.name} | {m.show(m.old)} | {m.show(m.new)} | {m.delta}{marks[m.direction]} |"
        )
    lines += ["", "▲/▼: the number moved the favourable/unfavourable way.", ""]

    lines += ["### Files", "", "| | sha256 | size |", "| --- | --- | ---: |"]
    for side in (old, new):
        if side is not None:
            lines.append(f"| {side.label} `{side.path.name}` | `{side.sha256}` | {side.size:,} |")
    lines.append("")

    lines += ["### Which SDK releases read the new file", ""]
    h = new.header
    lines.append(
        f"Format {h['major']}.{h['minor']}, required features `{h['required_features']:#x}`, "
        f"optional features `{h['optional_features']:#x}`."
    )
    readers = new.readers
    if readers is None or not readers.available:
        lines.append(f"**{readers.problem if readers is not None else 'not asked'}**")
    else:
        lines += ["", "```", _plain_text(plain(readers.answer)), "```"]
    lines.append("")

    fields = compare.provenance(new, old)
    changed = [f for f in fields if f.changed]
    lines += ["### Provenance changes", ""]
    if not changed:
        lines.append("None: every recorded fact is the same.")
    else:
        lines += ["| field | baseline | new |", "| --- | --- | --- |"]
        for f in changed:
            lines.append(f"| {f.name} | {_cell(f.old)} | {_cell(f.new)} |")
        lines.append(f"\n{len(fields) - len(changed)} other recorded facts are the same.")
    lines.append("")

    changed_rows = [r for r in rows if r.changed]
    lines += [f"### Review examples: {len(changed_rows)} of {len(rows)} changed", ""]
    if changed_rows:
        lines += ["| text before the cursor | baseline | new |", "| --- | --- | --- |"]
        for r in changed_rows[:MAX_EXAMPLES]:
            lines.append(
                f"| {_cell(compare.visible(r.example.text))} | {_words(r.old)} | {_words(r.new)} |"
            )
        if len(changed_rows) > MAX_EXAMPLES:
            lines.append(f"\n... and {len(changed_rows) - MAX_EXAMPLES} more in index.html.")
        lines.append("")
        lines.append("**bold**: not in the other list; ~~struck~~: dropped.")
    lines.append("")
    return "\n".join(lines)


def _words(marked: list[compare.Marked] | None) -> str:
    if marked is None:
        return "–"
    shown = []
    for m in marked:
        word = _cell(m.word)
        if m.change == "added":
            word = f"**{word}**"
        elif m.change == "dropped":
            word = f"~~{word}~~"
        shown.append(word)
    return ", ".join(shown) or "(none)"


def _cell(text: str) -> str:
    """Text inside a markdown table cell: pipes escaped, kept on one line."""
    return text.replace("|", "\\|").replace("\n", " ")


def _plain_text(value, indent: str = "") -> str:
    if isinstance(value, dict):
        return "\n".join(
            f"{indent}{k}:"
            + ("\n" + _plain_text(v, indent + "  ") if isinstance(v, dict | list) else f" {v}")
            for k, v in value.items()
        )
    if isinstance(value, list):
        return "\n".join(
            f"{indent}-"
            + ("\n" + _plain_text(v, indent + "  ") if isinstance(v, dict | list) else f" {v}")
            for v in value
        )
    return f"{indent}{value}"
