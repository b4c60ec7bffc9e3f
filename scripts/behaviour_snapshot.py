"""A fingerprint of what the kit computes, to show a refactoring changed nothing.

``python scripts/behaviour_snapshot.py OUT.json`` writes, through the public
API only (so the same script runs on an older tree):

- every RTL block's Verilog on its shipped parameters (sha256 of the text);
- ``simulate(...).to_dict()`` for every shipped arch x workload x engine pair
  that runs (the pairs an engine refuses are listed with the first line of
  their error, so a pair that starts or stops running shows up too);
- every ``reproduce`` target's rows (timing keys dropped).

``python scripts/behaviour_snapshot.py --compare A.json B.json`` prints what
differs and exits 1 if anything does. To compare two commits, run the
script in a checkout of each (each with its own install) and compare the two
files.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings

TIMING = {"wall_s", "run_s", "build_s", "elapsed_s"}


def snapshot() -> dict:
    import attnkit
    from attnkit.errors import AttnkitError

    out: dict = {"verilog": {}, "simulate": {}, "refused": {}, "reproduce": {}}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for block in attnkit.blocks():
            text = attnkit.verilog(block, out=tmp).read_text()
            out["verilog"][block] = hashlib.sha256(text.encode()).hexdigest()
        archs = sorted(r["name"] for r in attnkit.configs("arch"))
        workloads = sorted(r["name"] for r in attnkit.configs("workloads"))
        for arch in archs:
            for workload in workloads:
                for engine in attnkit.engines():
                    key = f"{arch}|{workload}|{engine}"
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            out["simulate"][key] = _plain(attnkit.simulate(arch, workload, engine=engine).to_dict())
                    except (AttnkitError, ValueError) as e:
                        out["refused"][key] = str(e).splitlines()[0] if str(e) else type(e).__name__
        import contextlib
        import io

        from attnkit import api

        for target in sorted(api.reproduce_targets()):
            with contextlib.redirect_stderr(io.StringIO()):
                rows = attnkit.reproduce(target, out=f"{tmp}/{target}")
            out["reproduce"][target] = [_plain({k: v for k, v in r.items() if k not in TIMING}) for r in rows]
    return out


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def compare(a: dict, b: dict) -> list[str]:
    diffs = []
    for section in ("verilog", "simulate", "refused", "reproduce"):
        sa, sb = a.get(section, {}), b.get(section, {})
        for key in sorted(set(sa) | set(sb)):
            if key not in sa:
                diffs.append(f"{section} {key}: only after")
            elif key not in sb:
                diffs.append(f"{section} {key}: only before")
            elif sa[key] != sb[key] and section != "refused":
                diffs.append(f"{section} {key}: differs")
    return diffs


def main(argv: list[str]) -> int:
    if argv[:1] == ["--compare"]:
        a, b = (json.load(open(p)) for p in argv[1:3])
        diffs = compare(a, b)
        for line in diffs:
            print(line)
        counts = {s: len(b.get(s, {})) for s in ("verilog", "simulate", "refused", "reproduce")}
        print(
            f"compared {counts['verilog']} blocks' Verilog, {counts['simulate']} simulate pairs that run "
            f"({counts['refused']} refused), {counts['reproduce']} reproduce targets: "
            f"{len(diffs)} difference(s)"
        )
        return 1 if diffs else 0
    snap = snapshot()
    with open(argv[0], "w") as f:
        json.dump(snap, f, indent=0, sort_keys=True)
    print(
        f"wrote {argv[0]}: {len(snap['verilog'])} blocks, {len(snap['simulate'])} pairs, "
        f"{len(snap['reproduce'])} targets",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
