"""Run SCALE-Sim (PyPI ``scalesim``) on GEMM shapes, as an independent cross-check of our cycle counts.

SCALE-Sim needs numpy < 2.4, so it lives in its own environment
(``.venv-scalesim``, made by ``make setup``). This module writes SCALE-Sim's
.cfg, topology and layout files under ``build/scalesim/``, runs one
subprocess in that environment for a whole batch of jobs (to pay its
start-up once) and reads ``Total Cycles`` from each COMPUTE_REPORT.csv
(with ``InterfaceBandwidth = CALC``, i.e. compute cycles without memory
stalls).

    cycles = scalesim_cycles([(128, 128, "os", [(m, n, k), ...]), ...])
    # -> one list of cycle counts per job, in shape order
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from attnkit.errors import AttnkitError

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv-scalesim" / "bin" / "python"
BUILD = REPO / "build" / "scalesim"

# The driver runs inside .venv-scalesim: for each job it writes the config,
# a GEMM topology (one layer per shape: "name, M, N, K,") and an empty
# layout, runs SCALE-Sim without traces and prints {"cycles": [...], "seconds": s}.
_DRIVER = r'''
import contextlib, csv, io, json, sys, time
from pathlib import Path
from scalesim.scale_sim import scalesim

CFG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : 6144
FilterSramSzkB : 6144
OfmapSramSzkB : 2048
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Dataflow : {df}
Bandwidth : 10
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : 10
IfmapSRAMBankNum : 10
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : 10
FilterSRAMBankNum : 10
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : CALC
UseRamulatorTrace : False
"""

jobs = json.load(sys.stdin)
root = Path(jobs["root"])
out = []
t0 = time.perf_counter()
for j, job in enumerate(jobs["jobs"]):
    name = f"job{j}_{job['rows']}x{job['cols']}_{job['df']}"
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "arch.cfg").write_text(CFG.format(name=name, rows=job["rows"], cols=job["cols"], df=job["df"]))
    topo = "Layer, M, N, K,\n" + "".join(f"g{i}, {m}, {n}, {k},\n" for i, (m, n, k) in enumerate(job["shapes"]))
    (d / "gemm.csv").write_text(topo)
    (d / "layout.csv").write_text("Layer,\n")
    with contextlib.redirect_stdout(io.StringIO()):
        s = scalesim(save_disk_space=True, verbose=False, config=str(d / "arch.cfg"),
                     topology=str(d / "gemm.csv"), layout=str(d / "layout.csv"), input_type_gemm=True)
        s.run_scale(top_path=str(d / "out"))
    report = next((d / "out").rglob("COMPUTE_REPORT.csv"))
    rows = list(csv.DictReader(report.open(), skipinitialspace=True))
    out.append([int(float(r["Total Cycles"])) for r in rows])
json.dump({"cycles": out, "seconds": time.perf_counter() - t0}, sys.stdout)
'''


def available() -> bool:
    return VENV_PYTHON.exists()


def missing_reason() -> str:
    return f"SCALE-Sim is not installed ({VENV_PYTHON} is missing; `make setup` creates it)"


Job = tuple[int, int, str, Sequence[tuple[int, int, int]]]


def scalesim_cycles(jobs: Sequence[Job], timing: dict | None = None) -> list[list[int]]:
    """SCALE-Sim's compute cycles for each (rows, cols, dataflow, shapes) job, in one subprocess.

    If ``timing`` is given, it receives ``seconds`` (SCALE-Sim's own run time,
    start-up excluded) and ``wall_s`` (the whole subprocess).
    """
    if not available():
        raise AttnkitError(missing_reason())
    BUILD.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD) as root:
        payload = {
            "root": root,
            "jobs": [
                {"rows": r, "cols": c, "df": df, "shapes": [list(s) for s in shapes]} for r, c, df, shapes in jobs
            ],
        }
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(VENV_PYTHON), "-c", _DRIVER], input=json.dumps(payload), capture_output=True, text=True
        )
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise AttnkitError(f"SCALE-Sim failed: {tail}")
    answer = json.loads(proc.stdout)
    if timing is not None:
        timing.update(seconds=answer["seconds"], wall_s=wall)
    return answer["cycles"]
