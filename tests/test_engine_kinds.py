"""The engine registry's kind declarations: every engine refuses a wrong kind in the same one line, once."""

import pytest

from attnkit import plugins
from attnkit.errors import AttnkitError, ConfigError
from attnkit.sim import engines
from attnkit.sim.engines import Engine

# One shipped config of each kind.
ARCH_OF_KIND = {
    "spatial": "fusemax",
    "gpu": "a100",
    "multicore": "fusemax-decode",
    "fpga": "zcu102-edgemoe",
    "numerics": "attention-numerics",
    "system": "h200-1",
}
WORKLOAD_OF_KIND = {
    "attention": "bert",
    "decode": "decode",
    "gemm": "gemm",
    "vit-moe": "m3vit",
    "request": "llama3-8b-request",
}


def test_every_kind_has_a_config():
    from attnkit.params.kinds import ARCH_KINDS, WORKLOAD_KINDS

    assert set(ARCH_OF_KIND) == set(ARCH_KINDS) and set(WORKLOAD_OF_KIND) == set(WORKLOAD_KINDS)


@pytest.mark.parametrize("what", ["arch", "workload"])
@pytest.mark.parametrize("name", sorted(engines.registry()))
def test_wrong_kind_is_one_line(name, what):
    """Each engine given a config of a kind it does not take, arch or workload, the other one right."""
    e = engines.get(name)
    takes, other = (e.arch, e.workload) if what == "arch" else (e.workload, e.arch)
    if takes is None:
        pytest.skip(f"{name} takes any {what} kind")
    of_kind, other_of_kind = (ARCH_OF_KIND, WORKLOAD_OF_KIND) if what == "arch" else (WORKLOAD_OF_KIND, ARCH_OF_KIND)
    kind = next(k for k in of_kind if k not in takes)
    right = other_of_kind[other[0]] if other else ("bert" if what == "arch" else "fusemax")
    arch, workload = (of_kind[kind], right) if what == "arch" else (right, of_kind[kind])
    s = "" if len(takes) == 1 else "s"
    want = f"engine {name} takes {what} kind{s} {', '.join(takes)}; {what} {of_kind[kind]!r} is {kind}"
    with pytest.raises(ConfigError) as info:
        engines.simulate(arch, workload, name)
    assert str(info.value) == want


def test_the_cli_prints_the_one_line(capsys):
    from attnkit import cli

    assert cli.main(["simulate", "--arch", "fusemax", "--workload", "decode", "--engine", "lean"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["attnkit: error: engine lean takes arch kinds gpu, multicore; arch 'fusemax' is spatial"]


class _Plugin:
    def __init__(self, engines_):
        self.ENGINES = engines_


def _with_plugin(monkeypatch, table):
    real = plugins.load
    monkeypatch.setattr(
        plugins,
        "load",
        lambda group: (
            [*real(group), ("p", "plugin p (test)", _Plugin(table))] if group == "attnkit.engines" else real(group)
        ),
    )
    engines.registry.cache_clear()


@pytest.fixture
def clean_registry():
    yield
    engines.registry.cache_clear()


def test_plugin_bare_function_takes_any_kind(monkeypatch, clean_registry):
    """A plugin's bare function (no Engine) is still an engine: it takes any kind and checks its own."""
    seen = []

    def bare(arch, workload, table, mode="closed"):
        seen.append((arch.kind, workload.kind))
        return engines.simulate(arch, workload, "gemm") if workload.kind == "gemm" else None

    _with_plugin(monkeypatch, {"bare": bare})
    e = engines.get("bare")
    assert (e.arch, e.workload, e.name) == (None, None, "bare")
    engines.simulate("a100", "bert", "bare")
    engines.simulate("systolic", "gemm", "bare")
    assert seen == [("gpu", "attention"), ("spatial", "gemm")]


def test_plugin_engine_declares_kinds(monkeypatch, clean_registry):
    _with_plugin(
        monkeypatch, {"decl": Engine(lambda a, w, t, mode="closed": None, arch=("gpu",), workload=("decode",))}
    )
    with pytest.raises(ConfigError, match="^engine decl takes arch kind gpu; arch 'fusemax' is spatial$"):
        engines.simulate("fusemax", "decode", "decl")


@pytest.mark.parametrize(
    "value,needle",
    [
        (Engine(print, arch=("spatail",)), r"engine 'bad': arch kinds \['spatail'\]; expected some of spatial, "),
        (Engine(print, workload=()), r"engine 'bad': workload kinds \[\]; expected some of "),
        (Engine(print, name="other"), "engine 'bad': its Engine is named 'other'"),
        (42, "engine 'bad': expected an Engine or a function, found int"),
    ],
)
def test_bad_declarations_are_one_line(monkeypatch, clean_registry, value, needle):
    _with_plugin(monkeypatch, {"bad": value})
    with pytest.raises(AttnkitError, match=needle):
        engines.registry()
