"""Report generation: the FuseMax reproduction's report, from its results to report.html."""

import tempfile
import time
from pathlib import Path

from attnkit.reports.render import render
from attnkit.sim.reproduce_fusemax import COLUMNS
from attnkit.sim.reproduce_fusemax import run as reproduce
from attnkit.sim.result import write_results


def run():
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rows = reproduce()
        write_results(rows, Path(tmp) / "reproduce", COLUMNS, "reproduce")
        t_rep = time.perf_counter() - t0
        out = render([Path(tmp) / "reproduce"], Path(tmp) / "report")
    return [
        {"name": "attnkit reproduce fusemax (compute + write)", "value": t_rep, "unit": "s"},
        {
            "name": "attnkit report on it (7 figures, PNG + SVG, HTML + MD)",
            "value": out["seconds"],
            "unit": "s",
            "note": f"{len(out['figures'])} figures",
        },
    ]
