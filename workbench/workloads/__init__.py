"""Benchmarks the workbench builds and runs itself (``workbench run``, the lab).

``stream.c`` is McCalpin's STREAM 5.10, unmodified (its licence is in
``STREAM-LICENSE.txt``; results from arrays smaller than STREAM's rule must be
labelled as not STREAM-conformant, which :mod:`workbench.workloads.stream` does).
"""
