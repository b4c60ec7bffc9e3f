"""Config loading rules shared by every parameter object."""

import pytest

from attnkit.errors import ConfigError
from attnkit.params import kinds
from attnkit.sim import engines


def test_a_config_file_must_give_required_keys(tmp_path):
    path = tmp_path / "gemm.yaml"
    path.write_text("kind: gemm\nm: 64\nn: 64\n")
    with pytest.raises(ConfigError, match=r"gemm.yaml: k: missing \(required by GemmWorkload\)"):
        kinds.load_workload(path)


def test_required_nested_keys_are_named_with_their_path(tmp_path):
    path = tmp_path / "arch.yaml"
    path.write_text(
        "kind: spatial\nclock_hz: 1e9\narray_2d: {rows: 8}\nglobal_buffer: {bytes: 65536}\n"
        "dram: {bandwidth_bytes_per_s: 1.0e+9}\n"
    )
    with pytest.raises(ConfigError, match=r"arch.yaml: array_2d.cols: missing"):
        kinds.load_arch(path)


def test_exponent_without_a_dot_is_a_number():
    arch = kinds.load_arch("systolic", ["dram.bandwidth_bytes_per_s=4e9", "clock_hz=1e9"])
    assert arch.dram.bandwidth_bytes_per_s == 4e9 and arch.clock_hz == 1e9


def test_wrong_type_and_unknown_set_key():
    with pytest.raises(ConfigError, match=r"array_2d.rows: expected an integer, got str 'many'"):
        kinds.load_arch("systolic", ["array_2d.rows=many"])
    with pytest.raises(ConfigError, match=r"--set array_2d.rowz: unknown key 'rowz' at array_2d"):
        kinds.load_arch("systolic", ["array_2d.rowz=4"])


def test_buffer_area_scales_with_capacity():
    from attnkit.sim.energy import load_table

    small = engines.simulate("systolic", "gemm", sets=["global_buffer.bytes=4194304"])
    big = engines.simulate("systolic", "gemm", sets=["global_buffer.bytes=33554432"])
    table = load_table("fusemax-45nm")
    assert big.area_breakdown["global_buffer"] == pytest.approx(8 * small.area_breakdown["global_buffer"])
    assert big.area_breakdown["global_buffer"] == pytest.approx(2 * table.components["global_buffer"].area_um2 * 1e-6)


def test_set_reaches_a_field_the_file_does_not_list(tmp_path):
    path = tmp_path / "arch.yaml"
    path.write_text(
        "kind: spatial\nclock_hz: 1.0e+9\narray_2d: {rows: 8, cols: 8}\nglobal_buffer: {bytes: 65536}\n"
        "dram: {bandwidth_bytes_per_s: 1.0e+9}\n"
    )
    arch = kinds.load_arch(path, ["array_2d.regfile_entries=16", "array_1d.pes=8"])
    assert arch.array_2d.regfile_entries == 16 and arch.array_1d.pes == 8
    with pytest.raises(ConfigError, match=r"unknown key 'pez' at array_1d"):
        kinds.load_arch(path, ["array_1d.pez=8"])


@pytest.mark.parametrize("arch,workload", [("systolic", "gemm"), ("fusemax", "bert")])
def test_every_engine_refuses_an_energy_table_of_other_widths(arch, workload):
    from attnkit.errors import AttnkitError

    with pytest.raises(
        AttnkitError,
        match=r"global_buffer.read moves 4096 bits, but the architecture's "
        r"global_buffer width is 2048 bits",
    ):
        engines.simulate(arch, workload, sets=["global_buffer.row_bits=2048"])


# --- --set of one field of a nested format the YAML leaves implicit ---------------------------------------------
# The parent dataclass's default (its default_factory) is the value the field has; an override edits exactly
# that one field of it, not a fresh instance of the nested class with that class's own defaults.


def _one_field_changed(before, after, path: str, value):
    """``after`` equals ``before`` but for the dotted ``path``, which holds ``value``."""
    from attnkit.params.config import to_data

    a, b = to_data(before), to_data(after)
    node = a
    *parents, leaf = path.split(".")
    for p in parents:
        node = node[p]
    assert node[leaf] != value, f"{path} already {value!r}: the check would prove nothing"
    node[leaf] = value
    assert b == a


@pytest.mark.parametrize(
    "arch,path,value",
    [
        # out_fmt is not in the YAML: the golden default ap_fixed<16,4,AP_RND,AP_SAT>, not QFormat() = <16,8,TRN,WRAP>
        ("attention-numerics", "numerics.out_fmt.frac_bits", 10),
        ("attention-numerics", "numerics.partial_fmt.rounding", "AP_RND"),
        # exp is in the YAML without in_fmt: ExpParams' in_fmt default (ap_fixed<16,6>), not QFormat's
        ("attention-numerics", "numerics.exp.in_fmt.frac_bits", 12),
        # exp is not in the YAML at all: EdgeMoeNumerics' own exp unit (10 table bits, saturating formats)
        ("zcu102-edgemoe", "numerics.exp.table_bits", 9),
        ("zcu102-edgemoe", "numerics.recip.iters", 3),
        ("zcu102-edgemoe", "numerics.recip.work_fmt.rounding", "AP_RND"),
    ],
)
def test_set_one_field_of_a_nested_default_keeps_the_others(arch, path, value):
    before = kinds.load_arch(arch)
    after = kinds.load_arch(arch, [f"{path}={value}"])
    _one_field_changed(before, after, path, value)


def test_set_one_field_of_a_format_the_yaml_gives_as_text():
    # zcu102-edgemoe.yaml writes act_fmt as ap_fixed<32,10,AP_TRN,AP_WRAP>
    before = kinds.load_arch("zcu102-edgemoe")
    assert str(before.numerics.act_fmt) == "ap_fixed<32,10,AP_TRN,AP_WRAP>"
    after = kinds.load_arch("zcu102-edgemoe", ["numerics.weight_fmt.overflow=AP_SAT"])
    assert str(after.numerics.weight_fmt) == "ap_fixed<16,2,AP_TRN,AP_SAT>"
    _one_field_changed(before, after, "numerics.weight_fmt.overflow", "AP_SAT")


def test_set_on_a_nested_default_still_refuses_typos_and_bad_text(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"--set numerics.out_fmt.frac_bitz: unknown key 'frac_bitz' at "
        r"numerics.out_fmt \(known: frac_bits, int_bits, overflow, rounding, signed\)",
    ):
        kinds.load_arch("attention-numerics", ["numerics.out_fmt.frac_bitz=10"])
    path = tmp_path / "arch.yaml"
    path.write_text((kinds.resolve("zcu102-edgemoe", "arch")).read_text().replace("ap_fixed<16,2,", "ap_fixed<16;2,"))
    with pytest.raises(
        ConfigError,
        match=r"--set numerics.weight_fmt.overflow: cannot edit numerics.weight_fmt: "
        r"cannot parse fixed-point format 'ap_fixed<16;2,",
    ):
        kinds.load_arch(path, ["numerics.weight_fmt.overflow=AP_SAT"])


# --- extends: a config as another one with a few keys changed -------------------------------------


def test_extends_overlays_mappings_key_by_key(tmp_path, monkeypatch):
    from attnkit.params import config

    (tmp_path / "configs" / "arch").mkdir(parents=True)
    (tmp_path / "configs" / "arch" / "big.yaml").write_text(
        "extends: fusemax\nname: big\narray_2d: {rows: 512}\nglobal_buffer: {bytes: 33554432}\n"
    )
    monkeypatch.chdir(tmp_path)
    base, big = kinds.load_arch("fusemax"), kinds.load_arch("big")
    assert (big.name, big.array_2d.rows, big.global_buffer.bytes) == ("big", 512, 33554432)
    assert big.array_2d.cols == base.array_2d.cols and big.array_1d == base.array_1d  # the rest inherited
    assert big.array_2d.ops == base.array_2d.ops and big.clock_hz == base.clock_hz
    assert "extends" not in config.load_yaml(tmp_path / "configs" / "arch" / "big.yaml")


def test_a_list_replaces_the_base_list(tmp_path):
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "base.yaml").write_text((kinds.resolve("flat", "arch")).read_text())
    (tmp_path / "arch" / "top.yaml").write_text("extends: base.yaml\narray_2d: {ops: [mac]}\n")
    assert kinds.load_arch(tmp_path / "arch" / "top.yaml").array_2d.ops == ("mac",)


def test_a_file_extending_its_own_name_gets_the_shipped_one(tmp_path, monkeypatch):
    (tmp_path / "configs" / "arch").mkdir(parents=True)
    (tmp_path / "configs" / "arch" / "a100.yaml").write_text("extends: a100\nunits: 54\n")
    monkeypatch.chdir(tmp_path)
    mine = kinds.load_arch("a100")
    assert mine.units == 54 and mine.profile.cta_fixed_s > 0 and mine.name == "a100"


def test_shipped_configs_state_a_derived_constant_once():
    """h100 takes a100's blog-derived per-CTA figures through extends, not by copying them."""
    import yaml

    own = yaml.safe_load(kinds.resolve("h100", "arch").read_text())  # the file's own keys, before extends
    assert own["extends"] == "a100"
    assert "kernels" not in own
    assert kinds.load_arch("h100").kernels == kinds.load_arch("a100").kernels


@pytest.mark.parametrize(
    "text, message",
    [
        ("extends: no-such-arch\n", r"top.yaml: extends: no other arch config named 'no-such-arch' \(looked in: "),
        ("extends: 3\n", r"top.yaml: extends: expected a config name or path, got int 3"),
        ("extends: top.yaml\n", r"top.yaml: extends: a cycle \("),
        ("extends: loop.yaml\n", r"extends: a cycle \(.*top.yaml -> .*loop.yaml -> .*top.yaml\)"),
    ],
)
def test_bad_extends_is_one_line(tmp_path, text, message):
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "top.yaml").write_text(text)
    (tmp_path / "arch" / "loop.yaml").write_text("extends: top.yaml\n")
    with pytest.raises(ConfigError, match=message) as e:
        kinds.load_arch(tmp_path / "arch" / "top.yaml")
    assert "\n" not in str(e.value)


def test_a_partial_nested_mapping_keeps_the_parents_default_for_the_rest(tmp_path):
    """merge.yaml giving one field of numerics.partial_fmt: the others are AttentionNumerics' partial_fmt,
    not QFormat's own defaults (one rule for files and --set, in attnkit.params.config)."""
    from attnkit.hw import blocks
    from attnkit.params.numerics import AttentionNumerics

    path = tmp_path / "merge.yaml"
    path.write_text("head_dim: 4\nnumerics: {partial_fmt: {rounding: AP_RND}}\n")
    got = blocks.get("merge").load_params([], str(path)).numerics
    want = AttentionNumerics().partial_fmt
    assert got.partial_fmt.rounding.name == "AP_RND" and got.partial_fmt.rounding != want.rounding
    assert (got.partial_fmt.int_bits, got.partial_fmt.frac_bits, got.partial_fmt.overflow) == (
        want.int_bits,
        want.frac_bits,
        want.overflow,
    )
    assert got.logit_fmt == AttentionNumerics().logit_fmt


def test_configs_lists_what_a_config_extends():
    from attnkit import api as kit

    rows = {r["name"]: r for r in kit.configs("arch")}
    assert rows["h100"]["extends"] == "a100" and rows["unfused"]["extends"] == "flat"
    assert rows["a100"]["extends"] is None


def test_yaml_text_parses_as_the_pure_python_loader_does_on_every_shipped_config():
    """parse_yaml uses libyaml's parser and remembers a text: the data (types included) are safe_load's."""
    import yaml

    from attnkit.params import config

    files = sorted(config.SHIPPED.rglob("*.yaml"))
    assert len(files) > 30
    for f in files:
        text = f.read_text()
        want = yaml.safe_load(text)
        got = config.parse_yaml(text)
        assert repr(got) == repr(want) and got == want, f
        got["edited"] = True  # a copy: the next caller gets the file's data
        assert repr(config.parse_yaml(text)) == repr(want), f
    with pytest.raises(yaml.YAMLError, match="mapping values are not allowed here"):
        config.parse_yaml("a: b: c")
