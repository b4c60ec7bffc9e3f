"""Dataflow arithmetic of an R x C systolic array running C[m x n] = A[m x k] B[k x n].

Each dataflow keeps one matrix still in the PEs and streams the others
through; the GEMM maps onto the array as (Sr, Sc, T): Sr spread over the
rows, Sc over the columns, T streamed in time.

- ``os`` (output-stationary): C[i, j] stays in PE (i, j); A's rows enter
  from the left and B's columns from the top, skewed by one cycle per
  row/column. (Sr, Sc, T) = (m, n, k).
- ``ws`` (weight-stationary): a block of B is loaded into the PEs; A's rows
  stream in from the left and partial sums flow down. (k, n, m).
- ``is`` (input-stationary): a block of A (transposed) is loaded; B's
  columns stream in. (k, m, n).

A fold is one R x C block of (Sr, Sc). Its cycles, from first principles:
in ``os`` PE (r, c) performs MAC t on cycle t + r + c, so the fold ends
after T + (R-1) + (C-1) cycles; in ``ws``/``is`` the R stationary rows are
first shifted in (R cycles), then the stream is skewed over the R rows and
crosses the C columns: R + (R-1) + (C-1) + T. The skew buffers are those of
the physical array, so a partial fold takes as long as a full one. Folds
run back to back.

SCALE-Sim reports the index (from 0) of the last busy cycle, one less than
the number of cycles; :func:`scalesim_compute_cycles` follows that
convention so the two can be compared exactly.
"""

from __future__ import annotations

from math import ceil


def mapping(dataflow: str, m: int, n: int, k: int) -> tuple[int, int, int]:
    """(Sr, Sc, T): the GEMM dimensions on the array's rows, columns and in time."""
    if dataflow == "os":
        return m, n, k
    if dataflow == "ws":
        return k, n, m
    if dataflow == "is":
        return k, m, n
    raise ValueError(f"dataflow {dataflow!r}: expected os, ws or is")


def fill_cycles(dataflow: str, rows: int, cols: int) -> int:
    """Cycles a fold takes beyond its T streamed cycles (stationary load, skew, propagation)."""
    return rows + cols - 2 if dataflow == "os" else 2 * rows + cols - 2


def folds(dataflow: str, rows: int, cols: int, m: int, n: int, k: int) -> tuple[int, int]:
    sr, sc, _ = mapping(dataflow, m, n, k)
    return ceil(sr / rows), ceil(sc / cols)


def compute_cycles(dataflow: str, rows: int, cols: int, m: int, n: int, k: int) -> int:
    """Cycles the array is busy, all folds back to back, with no memory stalls."""
    fr, fc = folds(dataflow, rows, cols, m, n, k)
    t = mapping(dataflow, m, n, k)[2]
    return fr * fc * (t + fill_cycles(dataflow, rows, cols))


def scalesim_compute_cycles(dataflow: str, rows: int, cols: int, m: int, n: int, k: int) -> int:
    """:func:`compute_cycles` in SCALE-Sim's convention (the last busy cycle's index from 0)."""
    return compute_cycles(dataflow, rows, cols, m, n, k) - 1
