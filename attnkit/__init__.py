"""attnkit: a design kit for attention accelerators.

The levels of one design live side by side and install as subpackages:
``attnkit.models`` (bit-exact golden models), ``attnkit.sim`` (cycle-level
simulator), ``attnkit.hw`` (Amaranth RTL), ``attnkit.testbench`` (cocotb),
``attnkit.reports`` (plots and reports), ``attnkit.hls`` (HLS C++).

The Python API (:mod:`attnkit.api`) is available at the top level:
``attnkit.simulate``, ``request``, ``reproduce``, ``sweep``, ``run_sweep``, ``pareto``, ``report``,
``load_arch``, ``load_workload``, ``configs``, ``verilog``, ``rtl_test``, ``synth``.
It is imported on first use, so ``import attnkit`` stays cheap.
"""

from attnkit._version import __version__  # not importlib.metadata: importing it costs a reproduction ~0.1 s

__all__ = [
    "simulate",
    "request",
    "reproduce",
    "sweep",
    "run_sweep",
    "pareto",
    "report",
    "load_arch",
    "load_workload",
    "configs",
    "engines",
    "blocks",
    "verilog",
    "rtl_test",
    "synth",
    "Rows",
    "__version__",
]


def __getattr__(name: str):
    if name in __all__:
        from attnkit import api

        return getattr(api, name)
    raise AttributeError(f"module 'attnkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
