"""HLS C++ kernels of Edge-MoE (Vitis HLS style) and their C-simulation without vendor tools.

Sources (package data, C++):

- ``edgemoe.h``: types, raw-bit helpers and the arithmetic units the ap_fixed
  headers lack, in the kernels' own fixed-point code: ``exp_unit``,
  ``recip_unit``, ``rsqrt_unit``, ``gelu_unit`` (bit for bit the golden units
  of :mod:`attnkit.models.exp`, :mod:`attnkit.models.recip`,
  :func:`attnkit.models.edgemoe_golden.rsqrt`, :mod:`attnkit.models.gelu`),
  the online-softmax step, and the kernel prototypes;
- ``linear.cpp`` (the unified linear unit, bias and GELU options, direct or
  queue-indexed rows), ``attention.cpp`` (reordered attention, online
  softmax), ``gelu.cpp``, ``layernorm.cpp``, ``gate.cpp`` (gate, top-k,
  per-expert queues, and the MoE block), ``layer.cpp`` (one M3ViT layer);
- ``harness.cpp``: reads the golden models' input vectors (a stream of
  int64 raw values), runs one kernel, writes its outputs the same way.

``params.h`` is generated into ``build/hls/`` from
:class:`attnkit.params.edgemoe.EdgeMoeParams` by :mod:`attnkit.hls.build`
(sizes, formats as ap_fixed typedefs, and the exp/reciprocal/rsqrt/GELU
tables), so no constant is written twice. :mod:`attnkit.hls.csim` draws the
vectors, builds (g++ against hls4ml's ap_types, cached by a hash of the
sources, params.h and flags), runs and compares: ``attnkit csim KERNEL``.
"""

# every kernel, by name, and the sources it builds from (the one list: the CLI, csim and the build read it)
KERNEL_SOURCES = {
    "linear": ("linear.cpp",),
    "gelu": ("gelu.cpp",),
    "layernorm": ("layernorm.cpp",),
    "attention": ("attention.cpp",),
    "gate": ("gate.cpp", "linear.cpp"),
    "layer": ("layer.cpp", "linear.cpp", "attention.cpp", "layernorm.cpp", "gate.cpp"),
}
KERNELS = tuple(KERNEL_SOURCES)
