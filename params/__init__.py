"""The parameter layer: every object that describes a design, at the bottom of the import graph.

Architectures (:mod:`.arch`, :mod:`.edgemoe`), workloads (:mod:`.workload`),
number formats (:mod:`.fixed`, :mod:`.numerics`), FPGA parts
(:class:`.arch.Device`), decode tile schedules (:mod:`.schedule`) and the RTL
blocks' parameters (:mod:`.rtl_attention`, :mod:`.rtl_decode`, :mod:`.merge`,
:mod:`.blocks`) are frozen dataclasses, loaded and checked from YAML by
:mod:`.config` and by kind (:mod:`.kinds`). The golden models, the simulator,
the RTL, the HLS kernels and the testbenches all read these objects and
import nothing of each other to get them.
"""
