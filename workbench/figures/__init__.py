"""Plotting functions by subject: data and ``ax=`` in, ``ax`` out; never save or show.

* :mod:`.thesis`: the thesis's figures, one function per figure number;
* :mod:`.comparison`: ratios with intervals, per-run values;
* :mod:`.capture`: time series with stages shaded;
* :mod:`.probe`: the memory probe against working-set size;
* :mod:`.lab`: the lab's relative performance per benchmark (Barham et al.'s Figure 3 layout).

Plot functions only draw: what they need computed (summaries, layouts, the sets
of series to draw) comes from the library below (:mod:`workbench.stats`,
:mod:`workbench.probe`, :mod:`workbench.thesis`). Input is the measurement
table (polars); conversion to pandas happens here, at the seaborn boundary.
"""
from ._base import APPROX_SOURCE
from .capture import capture_series
from .comparison import comparison_ratios, run_distributions
from .lab import relative_performance
from .probe import probe_bandwidth_latency
from .thesis import (
                     fig9_overhead_model,
                     fig65_cpu_per_core,
                     fig67_host_memory,
                     fig69_71_cache_memory,
                     fig74_75_memory,
                     fig79_cpu_memory,
)

__all__ = ["APPROX_SOURCE", "capture_series", "comparison_ratios", "fig9_overhead_model", "fig65_cpu_per_core",
           "fig67_host_memory", "fig69_71_cache_memory", "fig74_75_memory", "fig79_cpu_memory",
           "probe_bandwidth_latency", "relative_performance", "run_distributions"]
