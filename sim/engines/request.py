"""Engine ``request``: a whole LLM request on a serving system (:mod:`attnkit.sim.request`), so a sweep can
vary a system's arrays, memory and chips and read TTFT, TPOT, tokens/s and energy per token as metrics."""

from attnkit.sim.engines import Engine
from attnkit.sim.request import simulate

ENGINES = {"request": Engine(simulate, arch=("system",), workload=("request",))}
