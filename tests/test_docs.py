"""The documentation runs: every code block of the README and of the tutorial, as written.

Blocks are read from the Markdown in order and handled by their fence:

- ``sh``/``bash``: run with bash (``-e -o pipefail``) in a temporary folder, the venv's ``bin`` first on
  PATH, so ``attnkit`` and ``python`` are the kit's; it must exit 0;
- ``python``: written to a file there and run with the venv's Python; it must exit 0;
- any block with ``title="PATH"`` (Material's file-name caption, "save this as PATH"): written to PATH in
  that folder, exactly as shown, before the blocks after it run;
- a ``text`` block right after a run block (only blank lines between): the output it shows. Each of its lines must be a line of the
  run's stdout (spaces collapsed), consecutive and in order; a line ``...`` stands for any number of lines;
- ``text`` blocks elsewhere are pictures (a folder tree) and are not run.

A block that cannot run in a test says why, in a comment on the line before its fence, and is handled as
the comment says: ``<!-- docs-test: make-n REASON -->`` checks each ``make TARGET`` line with ``make -n``
in the clone (the target exists and its recipe expands). Any other runnable-looking block (``yaml``
without a title, ``console``, ...) fails the test, so nothing is left out silently.

The tutorial is one session: its blocks run in order in one folder. Each README block runs in a folder of
its own. Commands on the other pages (too slow to run here: reproductions, exhaustive RTL tests) are
parsed by the CLI's own argparse parser, so a renamed command or option fails.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
TUTORIAL = DOCS / "tutorial.md"
BIN = Path(sys.executable).parent
RUN = {"sh", "bash"}
FENCE = re.compile(r"^(\s*)(`{3,})\s*([\w+-]*)\s*(.*)$")
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*([\w-]+)\s+(.+?)\s*-->")


@dataclass
class Block:
    source: str  # file:line, for messages
    lang: str
    info: str  # the rest of the fence line (attributes such as title="...")
    text: str
    directive: tuple[str, str] | None  # (action, reason) from a docs-test comment above the fence
    start: int = 0  # the fence's line index
    end: int = 0  # the closing fence's line index
    gap_before: bool = True  # text (not only blank lines) between the previous block and this one

    @property
    def title(self) -> str | None:
        m = re.search(r'title="([^"]+)"', self.info)
        return m.group(1) if m else None


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang, info = m.groups()
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        d = DIRECTIVE.search(above)
        directive = (d.group(1), d.group(2)) if d else None
        gap = not out or any(line.strip() for line in lines[out[-1].end + 1 : start])
        out.append(Block(f"{path.name}:{start + 1}", lang, info, "\n".join(body) + "\n", directive, start, i - 1, gap))
    return out


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e.pop("ATTNKIT_CONFIG_PATH", None)
    e.pop("PYTHONPATH", None)
    e["COLUMNS"] = "200"
    return e


def execute(block: Block, cwd: Path) -> str:
    """Run one block in ``cwd``; its stdout. Fails with the block's place, its output and its errors."""
    if block.lang == "python":
        script = cwd / f"docs_block_{block.source.replace(':', '_').replace('.', '_')}.py"
        script.write_text(block.text)
        cmd = [str(BIN / "python"), script.name]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.text]
    p = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (
        f"{block.source}: exit status {p.returncode}\n{block.text}\n--- stdout\n{p.stdout[-3000:]}\n"
        f"--- stderr\n{p.stderr[-3000:]}"
    )
    return p.stdout


def _norm(line: str) -> str:
    return " ".join(line.split())


def matches(expected: str, actual: str) -> bool:
    """Each expected line is an actual line, consecutive and in order; ``...`` skips any number of lines."""
    want = [_norm(line) for line in expected.strip("\n").splitlines()]
    have = [_norm(line) for line in actual.splitlines()]

    def at(w: int, h: int) -> bool:
        if w == len(want):
            return True
        if want[w] == "...":
            return any(at(w + 1, k) for k in range(h, len(have) + 1))
        return h < len(have) and have[h] == want[w] and at(w + 1, h + 1)

    return any(at(0, start) for start in range(len(have) + 1)) if want and want[0] != "..." else at(0, 0)


def run_session(path: Path, cwd: Path, only=None) -> list[tuple[Block, str]]:
    """Run ``path``'s blocks in order in ``cwd`` (or only those ``only`` picks, each after the saves before
    it); the (block, stdout) of every run block. Checks the shown outputs."""
    done: list[tuple[Block, str]] = []
    previous: tuple[Block, str] | None = None
    for block in blocks(path):
        if block.directive:
            action, reason = block.directive
            assert action == "make-n" and len(reason) > 10, f"{block.source}: unknown docs-test {block.directive}"
            for line in block.text.strip().splitlines():
                words = shlex.split(line.split("#")[0])
                assert words[0] == "make" and len(words) >= 2, f"{block.source}: make-n takes make lines: {line}"
                p = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, env=env(), capture_output=True, text=True)
                assert p.returncode == 0 and p.stdout.strip(), f"{block.source}: make -n {words[1:]}: {p.stderr}"
            previous = None
        elif block.title:
            target = cwd / block.title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
            previous = None
        elif block.lang in RUN or block.lang == "python":
            if only is not None and not only(block):
                previous = None
                continue
            stdout = execute(block, cwd)
            done.append((block, stdout))
            previous = (block, stdout)
        elif block.lang == "text":
            if previous is not None and not block.gap_before:
                ran, stdout = previous
                assert matches(block.text, stdout), (
                    f"{block.source}: the output shown is not what {ran.source} prints now.\n--- shown\n"
                    f"{block.text}--- printed\n{stdout}"
                )
            previous = None
        else:
            raise AssertionError(
                f"{block.source}: a {block.lang or 'plain'} block that is neither run, saved (title=...) nor"
                " marked with a docs-test comment saying why"
            )
    return done


# --- the tutorial -------------------------------------------------------------------------------


@pytest.mark.rtl
def test_tutorial_runs_as_written(tmp_path):
    saved = [b.title for b in blocks(TUTORIAL) if b.title]
    assert saved == [
        "configs/arch/my-accel.yaml",
        "configs/sweeps/my-accel-space.yaml",
        "configs/arch/my-accel-rtl.yaml",
        "configs/workloads/tiny.yaml",
    ]
    shown = [b for b in blocks(TUTORIAL) if b.lang == "text"]
    assert len(shown) >= 8 and not any(b.gap_before for b in shown)  # every output shown is compared
    ran = run_session(TUTORIAL, tmp_path)
    assert len(ran) >= 9
    # what the tutorial says the reader gets
    front = (tmp_path / "build" / "my-accel" / "front.csv").read_text().splitlines()
    assert len(front) > 3 and front[0].startswith("point_id")
    rtl = json.loads((tmp_path / "build" / "my-accel" / "rtl.json").read_text())
    assert rtl["mismatches"] == 0 and rtl["cycles"] == rtl["predicted_cycles"] and rtl["vectors"] == 4
    verilog = (tmp_path / "build" / "my-accel" / "attention.v").read_text()
    assert verilog.count("module ") >= 1 and len(verilog) > 10_000
    synth = json.loads((tmp_path / "build" / "my-accel" / "synth-exp.json").read_text())
    assert synth["kind"] == "synth" and synth["luts"] > 0 and synth["fits"] and synth["fmax_mhz"] > 0
    report = tmp_path / "build" / "reports" / "my-accel"
    html = (report / "report.html").read_text()
    assert "my-accel-space" in html
    assert {p.name for p in (report / "figures").glob("*.png")} >= {"pareto.png", "rtl-cycles.png"}


# --- the README ---------------------------------------------------------------------------------


def _readme_blocks():
    return [b for b in blocks(README) if (b.lang in RUN or b.lang == "python") and not b.directive]


@pytest.mark.parametrize("index", range(len(_readme_blocks())), ids=lambda i: _readme_blocks()[i].source)
def test_readme_block_runs(index, tmp_path):
    chosen = _readme_blocks()[index]
    ran = run_session(README, tmp_path, only=lambda b: b.source == chosen.source)
    assert [b.source for b, _ in ran] == [chosen.source]
    if chosen.lang == "python":  # the API example: what its comments promise
        assert "FuseMax over FLAT at 4K" in ran[0][1]
        assert (tmp_path / "build" / "examples" / "api" / "results.csv").is_file()


def test_readme_every_block_is_handled(tmp_path):
    """make-n blocks checked, texts compared or pictures, nothing else (run_session raises on the rest)."""
    ran = run_session(README, tmp_path, only=lambda b: False)
    assert ran == []
    assert any(b.lang == "python" for b in _readme_blocks())


def test_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) < 200
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 10
    for link in local:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


def test_readme_command_table_is_the_cli():
    """One row per subcommand of the real parser, no more and no fewer."""
    from attnkit.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    rows = re.findall(r"^\| `attnkit ([a-z-]+)", README.read_text(), re.M)
    assert sorted(rows) == sorted(sub.choices), "the README's command table and attnkit's subcommands differ"


# --- every other page: its commands parse --------------------------------------------------------


def _commands(path: Path):
    for block in blocks(path):
        if block.lang not in RUN:
            continue
        text = block.text.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split(" #")[0].strip()
            for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
                words = shlex.split(re.split(r"\s\d?>", part)[0]) if part else []
                while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before the command
                    words = words[1:]
                if words and words[0].endswith("attnkit"):
                    yield block.source, words[1:]
                elif words and words[0] == "make":
                    yield block.source, ["make", *words[1:]]


def test_every_command_on_every_page_parses():
    from attnkit.cli import build_parser

    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    pages = sorted(DOCS.rglob("*.md")) + [README]
    seen = 0
    for page in pages:
        for source, argv in _commands(page):
            seen += 1
            if argv[0] == "make":
                assert set(argv[1:]) <= targets, f"{source}: make {' '.join(argv[1:])}: no such target"
                continue
            try:
                build_parser().parse_args(argv)
            except SystemExit as e:
                if e.code == 0:  # --version, --help
                    continue
                raise AssertionError(f"{source}: attnkit {' '.join(argv)} does not parse") from e
    assert seen >= 40


def test_make_reference_lists_every_target():
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    listed = re.findall(r"^\| `make ([\w-]+)` \|", (DOCS / "reference" / "make.md").read_text(), re.M)
    assert sorted(listed) == sorted(phony)


def test_every_sweep_spec_shown_on_a_page_expands(tmp_path, monkeypatch):
    """A spec a page shows as a file (title="configs/sweeps/...") is a valid spec: checked and expanded."""
    import attnkit.api

    monkeypatch.chdir(tmp_path)
    specs = [
        b for page in sorted(DOCS.rglob("*.md")) for b in blocks(page) if (b.title or "").startswith("configs/sweeps/")
    ]
    assert len(specs) >= 2
    for b in specs:
        (tmp_path / b.title).parent.mkdir(parents=True, exist_ok=True)
    for b in specs:  # all written first: a spec may name an arch another page block saves
        (tmp_path / b.title).write_text(b.text)
    for b in blocks(TUTORIAL):
        if b.title:
            (tmp_path / b.title).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / b.title).write_text(b.text)
    for b in specs:
        plan = attnkit.api.sweep_plan(tmp_path / b.title)
        assert plan["points"] > 0, b.source


def test_front_figure_script_runs(tmp_path):
    out = tmp_path / "front.png"
    subprocess.run([str(BIN / "python"), str(ROOT / "scripts" / "docs_figure.py"), str(out)], check=True, env=env())
    assert out.stat().st_size > 10_000
    assert (DOCS / "assets" / "attention-latency.png").stat().st_size > 10_000
