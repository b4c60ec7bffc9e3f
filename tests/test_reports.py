"""Reports: every figure family draws from its inputs, the HTML is self-contained and
opens in headless Chromium with every image loaded, bad inputs are named."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from attnkit.errors import AttnkitError
from attnkit.reports import data
from attnkit.reports.render import render


def _reproduce_rows():
    """Rows shaped like `attnkit reproduce --json` output (numbers made up for drawing)."""
    rows = []
    for model, e in (("BERT", 64), ("XLM", 128)):
        for s in (1024, 4096, 16384):
            for design, slow in (("flat", 7.0), ("fusemax", 1.0)):
                lat = slow * s * s * e * 1e-12
                rows.append(
                    {
                        "model": model,
                        "seq_len": s,
                        "design": design,
                        "latency_s": lat,
                        "energy_pj": lat * 1e12,
                        "util_2d": 0.9 / slow,
                        "util_1d": 1.0,
                        "dram_bytes": s * 1e5,
                        "bound_compute_s": s * s * e * 1e-12 * 0.9,
                        "bound_dram_s": s * 1e-7,
                        "energy_breakdown": {"mac": lat * 6e11, "dram": lat * 4e11},
                        "paper_speedup": 7.6 if design == "fusemax" else None,
                    }
                )
    return rows


@pytest.fixture
def inputs(tmp_path):
    rep = tmp_path / "reproduce"
    rep.mkdir()
    (rep / "results.json").write_text(json.dumps(_reproduce_rows()))
    rtl = tmp_path / "rtl.json"
    rtl.write_text(
        json.dumps(
            [
                {
                    "block": "mac",
                    "simulator": "verilator",
                    "vectors": 100,
                    "mismatches": 0,
                    "cycles": 140,
                    "predicted_cycles": 140,
                    "seed": 1,
                }
            ]
        )
    )
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    lines = ["point_id,workload,array_2d.rows,latency_s,energy_pj,area_mm2,error"]
    for i, rows in enumerate((32, 64, 128, 256)):
        for w in ("bert", "xlm"):
            lines.append(f"p{i}{w},{w},{rows},{1.0 / rows},{1e12 + rows * 1e9 * (i % 2)},{rows * 2.0},")
    lines.append("bad,bert,1,,,,tile does not fit")
    (sweep / "results.csv").write_text("\n".join(lines) + "\n")
    return [rep, rtl, sweep]


def test_report_draws_every_applicable_family(inputs, tmp_path):
    out = render(inputs, tmp_path / "report")
    names = sorted(p.rsplit("/", 1)[1] for p in out["figures"])
    assert names == [
        "energy-attention.png",
        "energy-breakdown.png",
        "latency.png",
        "pareto.png",
        "rtl-cycles.png",
        "speedup-attention.png",
        "utilisation.png",
    ]
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("<img ") == 7 and "src='data:image/png;base64," in html
    assert "attnkit report" in (tmp_path / "report" / "report.md").read_text()
    for p in out["figures"]:
        assert (tmp_path / "report" / "figures" / p.rsplit("/", 1)[1].replace(".png", ".svg")).exists()


def test_every_figure_has_labels_title_and_legend(inputs):
    import matplotlib.pyplot as plt

    from attnkit.reports.render import families

    tables = data.load_all(inputs)
    for family in families():
        for f in family.figures(tables):
            assert f.fig._suptitle is not None and f.fig._suptitle.get_text(), f.name
            assert f.caption.strip(), f"{f.name}: no caption"
            for ax in f.fig.axes:
                if not ax.get_visible() or hasattr(ax, "_colorbar"):
                    continue
                assert ax.get_xlabel() and ax.get_ylabel(), (f.name, ax.get_title())
                flat = any(getattr(c, "orientation", "") == "horizontal" for c in ax.containers)
                value = ax.get_xlabel() if flat else ax.get_ylabel()  # horizontal bars: the value is on x
                assert "(" in value, f"{f.name}: value axis without a unit: {value!r}"
                if len(ax.lines) + len(ax.containers) > 1:
                    assert ax.get_legend() is not None or f.fig.legends, f.name
            plt.close(f.fig)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_report_has_contents_and_plain_headings(inputs, tmp_path):
    render(inputs, tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text()
    ids = re.findall(r"<h2 id='([^']+)'>", page)
    links = re.findall(r"<li><a href='#([^']+)'>", page)
    assert ids and links == ids  # every section is in the contents, in order
    assert not [h for h in re.findall(r"<h2[^>]*>(.*?)</h2>", page) if "$" in h]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Contents" in md and not [line for line in md.splitlines() if line.startswith("#") and "$" in line]


def test_each_design_has_one_colour_in_every_figure(inputs, tmp_path):
    """The plotting layer's palette gives a design its colour; every figure that draws a series of a named
    design (bars, lines, points; 'over fa2', 'fusemax 2D', 'flash (flashdecoding)') draws it in that colour."""
    import matplotlib.colors as mc
    import matplotlib.pyplot as plt

    from attnkit.reports.figure import PALETTE, colour
    from attnkit.reports.render import families

    seen: dict[str, set] = {}
    decode = _decode_results(tmp_path)  # run once; each family reads its own fresh tables from the files
    for family in families():
        for f in family.figures(data.load_all(inputs) + data.load_all(decode)):
            for ax in f.fig.axes if f.fig else ():
                for handle, label in zip(*ax.get_legend_handles_labels()):
                    name = re.split(r"[ (:]", label.removeprefix("over "), maxsplit=1)[0]
                    if name in PALETTE and "paper" not in label:
                        seen.setdefault(name, set()).add(mc.to_hex(_colour_of(handle)))
            if f.fig:
                plt.close(f.fig)
    assert {"flat", "fusemax", "fa2", "flashdecoding", "flash", "efficient", "cudnn"} <= set(seen)
    assert {n: c for n, c in seen.items() if c != {mc.to_hex(colour(n))}} == {}


def _colour_of(handle):
    if hasattr(handle, "get_color"):
        return handle.get_color()
    if hasattr(handle, "patches"):  # a bar container
        return handle.patches[0].get_facecolor()
    if hasattr(handle, "get_facecolor") and len(handle.get_facecolor()):
        return handle.get_facecolor()[0]
    return handle.get_edgecolor()[0]


def _decode_results(tmp_path):
    """A decode reproduction (two contexts) and the H200 validation: the result folders the report reads."""
    from attnkit import api, cli

    api.reproduce("leanattention", seq_lens=[1024, 4096], out=tmp_path / "lean")
    assert cli.main(["validate", "h200-pytorch-sdpa", "--arch", "h200", "-o", str(tmp_path / "v")]) == 0
    return [tmp_path / "lean", tmp_path / "v"]


def test_pareto_front_of_a_sweep_is_highlighted(inputs):
    from attnkit.reports import fig_pareto

    (f,) = fig_pareto.figures(data.load_all(inputs))
    # per workload, latency 1/rows against area 2 rows: every design trades one for the other (all on the
    # front), labelled by the parameter swept; throughput per mm^2 is the same for all, so its front keeps
    # the lower-energy designs (rows 32 and 128)
    assert sorted((r["workload"], r["array_2d.rows"]) for r in f.table) == [
        (w, n) for w in ("bert", "xlm") for n in (32, 64, 128, 256)
    ]
    assert {r["design"] for r in f.table} == {f"rows={n}" for n in (32, 64, 128, 256)}
    assert sorted(r["array_2d.rows"] for r in f.table if r["on_density_front"]) == [32, 32, 128, 128]


def test_html_report_loads_every_image_in_headless_chromium(inputs, tmp_path):
    browser = _chromium()
    if not browser:
        pytest.skip("Chromium is not installed (`make setup` installs it where apt-get is usable)")
    render(inputs, tmp_path / "report")
    page = tmp_path / "probe.html"
    # counts the images loaded, drawn at a non-zero size on the page, and inside a figure with a caption
    probe = (
        "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "const ok=i.filter(x=>x.complete&&x.naturalWidth>0&&x.getBoundingClientRect().width>0"
        "&&x.getBoundingClientRect().height>0&&x.closest('figure')"
        "&&x.closest('figure').querySelector('figcaption')"
        "&&x.closest('figure').querySelector('figcaption').textContent.trim().length>0);"
        "document.title='loaded '+ok.length+' of '+i.length;});</script>"
    )
    page.write_text((tmp_path / "report" / "report.html").read_text().replace("</body>", probe + "</body>"))
    r = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r"<title>loaded (\d+) of (\d+)</title>", r.stdout)
    assert m, r.stderr[-2000:]
    assert m.group(1) == m.group(2) == "7"


@pytest.mark.parametrize(
    "content,suffix,needle",
    [
        (None, ".json", "no such file"),
        ("{not json", ".json", "not valid JSON (line 1"),
        ("a,b\n1,2\n", ".csv", "not a result file attnkit knows (columns: a, b"),
        ("", ".csv", "empty CSV"),
        ("x", ".txt", "unsupported input"),
    ],
)
def test_bad_inputs_are_named(tmp_path, content, suffix, needle):
    path = tmp_path / f"input{suffix}"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AttnkitError) as e:
        data.load(path)
    assert str(path) in str(e.value) and needle in str(e.value)


def test_cli_bad_input_is_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "attnkit", "report", str(tmp_path / "nope.csv"), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "nope.csv: no such file" in r.stderr


@pytest.mark.parametrize("target", ["fusemax", "llm", "edgemoe", "leanattention"])
def test_each_summary_is_named_by_its_target_and_fits_a_screen(target, tmp_path):
    """A summary is the reproduction's headline rows (its per-setting series stay with the figures' data),
    titled by the target even when the run went to a folder of another name."""
    from attnkit import api
    from attnkit.reports import fig_summary

    kw = {"seq_lens": [1024, 4096]} if target == "leanattention" else {}
    api.reproduce(target, out=tmp_path / "runs" / "run1", **kw)
    (f,) = fig_summary.figures(data.load_all([tmp_path / "runs" / "run1"]))
    assert f.title == f"Summary of {target} against the paper"
    assert 0 < len(f.table) <= 40


@pytest.mark.slow  # tens of thousands of rows read, fronted and drawn: about 15 s alone
def test_a_sweep_of_many_points_draws_density_with_the_front_on_top(tmp_path):
    """More designs than DENSITY_ABOVE: hexagonal cells counting designs, the front drawn over them, a small HTML."""
    import numpy as np
    from matplotlib.collections import PolyCollection

    from attnkit.reports import fig_pareto
    from attnkit.sim.result import write_manifest

    rng = np.random.default_rng(0)
    n = fig_pareto.DENSITY_ABOVE + 10_000
    rows_ = rng.integers(16, 1024, n)
    area = rows_**2 * 1e-3 * rng.uniform(1, 2, n)
    lat = 1.0 / rows_**2 * rng.uniform(1, 3, n)
    out = tmp_path / "sweep"
    out.mkdir()
    lines = ["point_id,arch,workload,array_2d.rows,latency_s,energy_pj,area_mm2,feasible,error"]
    lines += [
        f"p{i},a,w,{r},{t!r},{t * 1e12!r},{a!r},True,"
        for i, (r, t, a) in enumerate(zip(rows_.tolist(), lat.tolist(), area.tolist()))
    ]
    (out / "results.csv").write_text("\n".join(lines) + "\n")
    write_manifest(out, "sweep", ["results.csv"])
    (f,) = fig_pareto.figures(data.load_all([out]))
    panels = [ax for ax in f.fig.axes if ax.get_title()]
    assert any(isinstance(c, PolyCollection) for c in panels[0].collections)  # the density, not 120k markers
    front_line = [ln for ln in panels[0].get_lines() if ln.get_label().startswith("front")]
    assert front_line and len(front_line[0].get_xdata()) == len([r for r in f.table])
    report = render([out], tmp_path / "report")
    html = (tmp_path / "report" / "report.html").stat().st_size
    assert html < 3e6, html
    assert report
