"""Config loading rules shared by every parameter object."""

import pytest

from attnkit.errors import ConfigError
from attnkit.sim import api


def test_a_config_file_must_give_required_keys(tmp_path):
    path = tmp_path / "gemm.yaml"
    path.write_text("kind: gemm\nm: 64\nn: 64\n")
    with pytest.raises(ConfigError, match=r"gemm.yaml: k: missing \(required by GemmWorkload\)"):
        api.load_workload(path)


def test_required_nested_keys_are_named_with_their_path(tmp_path):
    path = tmp_path / "arch.yaml"
    path.write_text("kind: spatial\nclock_hz: 1e9\narray_2d: {rows: 8}\nglobal_buffer: {bytes: 65536}\n"
                    "dram: {bandwidth_bytes_per_s: 1.0e+9}\n")
    with pytest.raises(ConfigError, match=r"arch.yaml: array_2d.cols: missing"):
        api.load_arch(path)


def test_exponent_without_a_dot_is_a_number():
    arch = api.load_arch("systolic", ["dram.bandwidth_bytes_per_s=4e9", "clock_hz=1e9"])
    assert arch.dram.bandwidth_bytes_per_s == 4e9 and arch.clock_hz == 1e9


def test_wrong_type_and_unknown_set_key():
    with pytest.raises(ConfigError, match=r"array_2d.rows: expected an integer, got str 'many'"):
        api.load_arch("systolic", ["array_2d.rows=many"])
    with pytest.raises(ConfigError, match=r"--set array_2d.rowz: unknown key 'rowz' at array_2d"):
        api.load_arch("systolic", ["array_2d.rowz=4"])


def test_buffer_area_scales_with_capacity():
    from attnkit.sim.energy import load_table
    small = api.simulate("systolic", "gemm", sets=["global_buffer.bytes=4194304"])
    big = api.simulate("systolic", "gemm", sets=["global_buffer.bytes=33554432"])
    table = load_table("fusemax-45nm")
    assert big.area_breakdown["global_buffer"] == pytest.approx(8 * small.area_breakdown["global_buffer"])
    assert big.area_breakdown["global_buffer"] == pytest.approx(
        2 * table.components["global_buffer"].area_um2 * 1e-6)


def test_set_reaches_a_field_the_file_does_not_list(tmp_path):
    path = tmp_path / "arch.yaml"
    path.write_text("kind: spatial\nclock_hz: 1.0e+9\narray_2d: {rows: 8, cols: 8}\nglobal_buffer: {bytes: 65536}\n"
                    "dram: {bandwidth_bytes_per_s: 1.0e+9}\n")
    arch = api.load_arch(path, ["array_2d.regfile_entries=16", "array_1d.pes=8"])
    assert arch.array_2d.regfile_entries == 16 and arch.array_1d.pes == 8
    with pytest.raises(ConfigError, match=r"unknown key 'pez' at array_1d"):
        api.load_arch(path, ["array_1d.pez=8"])


@pytest.mark.parametrize("arch,workload", [("systolic", "gemm"), ("fusemax", "bert")])
def test_every_engine_refuses_an_energy_table_of_other_widths(arch, workload):
    from attnkit.errors import AttnkitError
    with pytest.raises(AttnkitError, match=r"global_buffer.read moves 4096 bits, but the architecture's "
                                           r"global_buffer width is 2048 bits"):
        api.simulate(arch, workload, sets=["global_buffer.row_bits=2048"])
