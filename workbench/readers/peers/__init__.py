"""Readers for peer benchmarking tools' result files: their users get our verdicts on their data.

=================  ============================================  ==========
format / source    what                                          module
=================  ============================================  ==========
``hyperfine``      ``hyperfine --export-json`` (per-run times)   hyperfine
``pyperf``         pyperf / pyperformance JSON (``.json[.gz]``)  pyperf
``phoronix``       Phoronix Test Suite ``composite.xml``         phoronix
=================  ============================================  ==========

Each repetition the tool recorded as independent (a hyperfine run, a pyperf worker process,
a PTS pass) becomes a ``run`` of the table, so :func:`workbench.stats.compare_all` compares
conditions across them; timings are ``bench_time`` (seconds, lower is better).
"""
from __future__ import annotations

from . import hyperfine, phoronix, pyperf

__all__ = ["hyperfine", "phoronix", "pyperf"]

from .. import register_format  # noqa: E402

register_format(hyperfine.NAME, sniff=hyperfine.sniff, parse=hyperfine.parse, suffixes=(".json",),
                description="hyperfine --export-json results: each run of each command")
register_format(pyperf.NAME, sniff=pyperf.sniff, parse=pyperf.parse, suffixes=(".json", ".json.gz"),
                description="pyperf / pyperformance JSON results: each worker process's values")
register_format(phoronix.NAME, sniff=phoronix.sniff, parse=phoronix.parse, suffixes=(".xml",),
                description="Phoronix Test Suite composite.xml: each pass of each system's result")
