"""attnkit: a design kit for attention accelerators.

The levels of one design live side by side and install as subpackages:
``attnkit.models`` (bit-exact golden models), ``attnkit.sim`` (cycle-level
simulator), ``attnkit.hw`` (Amaranth RTL), ``attnkit.testbench`` (cocotb),
``attnkit.reports`` (plots and reports).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("attnkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
