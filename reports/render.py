"""Draw every figure family on the inputs and write the report: PNG + SVG figures,
report.md, and one self-contained report.html (images embedded, tables beside them).

Figure families are the modules ``reports/fig_*.py``, found by name: each
defines ``TITLE``, ``ORDER`` (its place in the report) and
``figures(tables) -> list[Figure]`` (empty when its inputs are absent; a
Figure whose ``fig`` is None is a table alone). Adding the figures of a new engine is one new module.
"""

from __future__ import annotations

import base64
import html
import importlib
import pkgutil
import platform
import shlex
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import yaml

from attnkit import __version__, reports
from attnkit.errors import AttnkitError
from attnkit.reports.data import Table, load_all
from attnkit.reports.figure import Figure


def families():
    """The figure families, in their ``ORDER``: ``reports/fig_*.py``, then the ``attnkit.figures``
    entry points (plugin modules of the same shape, see :mod:`attnkit.plugins`)."""
    from attnkit import plugins

    found: dict[str, object] = {}
    origin: dict[str, str] = {}
    for info in pkgutil.iter_modules(reports.__path__):
        if info.name.startswith("fig_"):
            module = importlib.import_module(f"{reports.__name__}.{info.name}")
            plugins.merge("figure family", found, origin, info.name.removeprefix("fig_"), module, module.__name__)
    for name, who, module in plugins.load("attnkit.figures"):
        if not callable(getattr(module, "figures", None)):
            raise AttnkitError(f"{who}: expected a module with figures(tables), TITLE and ORDER")
        plugins.merge("figure family", found, origin, name, module, who)
    return sorted(found.values(), key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return ""
    return str(v)


def _columns(f: Figure) -> list[str]:
    return f.columns or (list(f.table[0].keys()) if f.table else [])


def _md_table(f: Figure) -> str:
    cols = _columns(f)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in f.table]
    return "\n".join(lines)


def _html_table(f: Figure) -> str:
    cols = _columns(f)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_td(r.get(c)) for c in cols) + "</tr>" for r in f.table)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(v) -> str:
    """A cell: numbers right-aligned (the table's default), text left-aligned so a sentence reads."""
    text = html.escape(_fmt(v))
    return f"<td>{text}</td>" if v is None or isinstance(v, (int, float)) else f"<td class='t'>{text}</td>"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;font-size:12px;margin:0.5em 0 2em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}
details{margin-bottom:1em}code,pre{background:#f6f6f6;padding:2px 4px}
td.t{text-align:left}figure{margin:0}figcaption{margin:0.4em 0 0.8em}nav ol{columns:2;font-size:14px}"""


def render(inputs, out_dir: str | Path, command: str | None = None, log=lambda msg: None) -> dict:
    """Write the report for ``inputs`` (paths) into ``out_dir``; return what was written."""
    t0 = time.perf_counter()
    tables: list[Table] = load_all(inputs)
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    command = (
        command or "attnkit report " + " ".join(shlex.quote(str(p)) for p in inputs) + f" -o {shlex.quote(str(out))}"
    )
    sections = []
    used: dict[str, int] = {}
    for family in families():
        for f in family.figures(tables):
            png = None
            used[f.name] = used.get(f.name, 0) + 1
            if used[f.name] > 1:  # the same family drawn for a second input (two reproductions, two sweeps)
                f.name = f"{f.name}-{used[f.name]}"
            if f.fig is not None:
                png, svg = out / "figures" / f"{f.name}.png", out / "figures" / f"{f.name}.svg"
                f.fig.savefig(png)
                f.fig.savefig(svg)
                plt.close(f.fig)
                log(f"report: drew {png}")
            sections.append((family.TITLE, f, png))
    _write_md(out / "report.md", tables, sections, command)
    _write_html(out / "report.html", tables, sections, command)
    return {
        "report_html": str(out / "report.html"),
        "report_md": str(out / "report.md"),
        "figures": [str(p) for _, _, p in sections if p],
        "inputs": [str(t.source) for t in tables],
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _provenance(tables, command) -> list[tuple[str, str]]:
    return [
        ("attnkit version", __version__),
        ("reproduce with", command),
        ("python", f"{platform.python_version()} on {platform.machine()}"),
        (
            "inputs",
            ", ".join(
                f"{t.source} ({t.kind}{' by its columns' if t.guessed else ''}, {len(t.rows)} rows)" for t in tables
            ),
        ),
    ] + [
        (f"{t.source.name}: {k}", str(v))
        for t in tables
        for k, v in t.meta.items()
        if not isinstance(v, (list, dict)) and k != "target"  # a reproduction's name titles its summary
    ]


def _configurations(tables) -> list[tuple[str, str]]:
    """(input, YAML text) of each configuration saved beside an input's results."""
    return [
        (str(t.source), yaml.safe_dump(t.meta["configuration"], sort_keys=False, width=100))
        for t in tables
        if isinstance(t.meta.get("configuration"), dict)
    ]


TEX = {"$^2$": "\u00b2", "$^3$": "\u00b3", "$\\mu$": "\u00b5", "$\\times$": "\u00d7"}


def plain(title: str) -> str:
    """A heading as plain text: the few TeX marks figures use become their characters, other ``$`` go."""
    for tex, char in TEX.items():
        title = title.replace(tex, char)
    return title.replace("$", "")


def _anchor(f: Figure) -> str:
    return f"fig-{f.name}"


def _contents(sections, configurations) -> list[tuple[str, str]]:
    """(anchor, heading) of every section, in order: the report's table of contents."""
    out = [(_anchor(f), plain(f.title)) for _title, f, _png in sections]
    return out + [(f"config-{i}", f"Configuration of {source}") for i, (source, _) in enumerate(configurations)]


def _write_md(path, tables, sections, command):
    lines = ["# attnkit report", ""]
    lines += [
        f"- **{k}**: `{v}`" if k == "reproduce with" else f"- **{k}**: {v}" for k, v in _provenance(tables, command)
    ]
    configs = _configurations(tables)
    lines += ["", "## Contents", ""] + [f"1. [{title}](#{a})" for a, title in _contents(sections, configs)]
    for _title, f, png in sections:
        title = plain(f.title)
        lines += ["", f'<a id="{_anchor(f)}"></a>', "", f"## {title}", ""]
        lines += [f"![{title}](figures/{png.name})", ""] if png else []
        if f.caption:
            lines += [f.caption, ""]
        lines += [_md_table(f)]
    for i, (source, text) in enumerate(configs):
        lines += [
            "",
            f'<a id="config-{i}"></a>',
            "",
            f"## Configuration of {source}",
            "",
            "```yaml",
            text.rstrip(),
            "```",
        ]
    path.write_text("\n".join(lines) + "\n")


def _write_html(path, tables, sections, command):
    prov = "".join(
        f"<tr><th>{html.escape(k)}</th><td style='text-align:left'><code>{html.escape(v)}</code></td></tr>"
        for k, v in _provenance(tables, command)
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>attnkit report</title><style>{CSS}</style>"
        f"</head><body><h1>attnkit report</h1><table>{prov}</table>"
    ]
    configs = _configurations(tables)
    if not sections:
        parts.append("<p>No figure family applies to these inputs.</p>")
    else:
        items = "".join(f"<li><a href='#{a}'>{html.escape(t)}</a></li>" for a, t in _contents(sections, configs))
        parts.append(f"<nav id='contents'><h2>Contents</h2><ol>{items}</ol></nav>")
    for _title, f, png in sections:
        title = html.escape(plain(f.title))
        parts.append(f"<h2 id='{_anchor(f)}'>{title}</h2>")
        if png:
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f"<figure><img alt='{title}' src='data:image/png;base64,{data}'>")
            parts.append(f"<figcaption>{html.escape(f.caption)}</figcaption></figure>" if f.caption else "</figure>")
        if f.caption and not png:
            parts.append(f"<p>{html.escape(f.caption)}</p>")
        if png:
            parts.append(
                f"<details><summary>numbers behind this figure ({len(f.table)} rows)</summary>"
                f"{_html_table(f)}</details>"
            )
        else:
            parts.append(_html_table(f))
    for i, (source, text) in enumerate(configs):
        parts.append(
            f"<h2 id='config-{i}'>Configuration of {html.escape(source)}</h2><details><summary>as run</summary>"
            f"<pre>{html.escape(text)}</pre></details>"
        )
    parts.append("</body></html>")
    path.write_text("".join(parts))


def main_command_line() -> str:
    return "attnkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
