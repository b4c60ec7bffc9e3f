"""The command line: one-line errors for user mistakes, JSON on stdout."""

import json
import subprocess
import sys

import pytest


def attnkit(*args):
    return subprocess.run([sys.executable, "-m", "attnkit", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["verilog", "mac", "--set", "acc_fmt.int_bitz=4"], "unknown key 'int_bitz'"),
        (["verilog", "mac", "--set", "in_fmt.int_bits=-9"], "in_fmt.int_bits: width int_bits + frac_bits = -5"),
        (["verilog", "mac", "--set", "pipeline"], "expected key=value"),
        (["verilog", "multiplier"], "unknown block 'multiplier' (known blocks: "),
        (["rtl-test", "adder", "--vectors", "5"], "unknown block 'adder'"),
        (["rtl-test", "mac", "--vectors", "0"], "--vectors 0: expected at least 1"),
    ],
)
def test_user_mistakes_give_one_line(args, needle):
    r = attnkit(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnkit: error: "), r.stderr
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


def test_verilog_json_and_set(tmp_path):
    r = attnkit("verilog", "mac", "--set", "pipeline=3", "-o", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    text = (tmp_path / "mac.v").read_text()
    assert out["verilog"].endswith("mac.v") and "module mac(" in text
    assert "prod_s1" in text  # three stages: two product registers, then the accumulator


def test_help_lists_commands():
    r = attnkit("--help")
    assert r.returncode == 0 and "rtl-test" in r.stdout and "verilog" in r.stdout


def test_a_reproduction_imports_neither_numpy_nor_amaranth():
    """Start-up is part of a reproduction's time: the command builds only its own arguments, the engine
    registry and the configs load without NumPy or Amaranth, and edgemoe's checks compute without them."""
    import subprocess
    import sys

    code = (
        "import sys; from attnkit.cli import main; "
        "assert main(['reproduce', 'edgemoe', '--out', sys.argv[1]]) in (0, None); "
        "from attnkit.sim import engines; engines.registry(); "
        "from attnkit.params import kinds; kinds.load_arch('fusemax'); kinds.load_arch('a100'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'amaranth')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "build/test-cli-imports"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
