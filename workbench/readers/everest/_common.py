"""Helpers shared by the EVEREST / AIDA64 readers: numbers, units, frames, warnings.

Format facts cited in comments are from ``shared/formats/EVEREST_AIDA64.md`` (§ numbers
refer to it) and the sample files in ``tests/fixtures/everest/``.
"""
from __future__ import annotations

import math
import re
import warnings
from typing import Any, Iterable

import polars as pl

from ... import schema
from ...errors import AssumptionWarning as AssumptionWarning  # re-exported by readers.everest
from ...errors import NativeMetricWarning, ParseError
from .. import _numbers

#: What trial builds print instead of a value (§2.2, §2.4); the value is withheld.
TRIAL = "[ TRIAL VERSION ]"

# Printed unit -> factor to the canonical unit, per kind of quantity. Localized
# spellings: the v7.35 RU report prints sizes as "МБ" (and "ГБ", "МГц"); "МБ/с" and
# "нс" follow the same translation [INFERRED: no RU benchmark page is available].
# An unknown spelling is an error naming it, never a guess: add it here once seen.
# Bandwidth "MB/s" is 10^6 bytes/s and sizes "MB" are MiB (see schema.py for why).
BANDWIDTH_UNITS = {"MB/s": schema.MB_PER_S, "МБ/с": schema.MB_PER_S,
                   "GB/s": 1000 * schema.MB_PER_S, "ГБ/с": 1000 * schema.MB_PER_S}
LATENCY_UNITS = {"ns": schema.NS, "нс": schema.NS}
SIZE_UNITS = {"MB": schema.MIB, "МБ": schema.MIB}
PERCENT_UNITS = {"%": 1.0}
#: Canonical unit (the vocabulary's) -> the printed units of that kind of quantity.
PRINTED_UNITS = {"bytes/s": BANDWIDTH_UNITS, "seconds": LATENCY_UNITS, "bytes": SIZE_UNITS,
                 "percent": PERCENT_UNITS}
#: Benchmark page title -> metric: the memory benchmark pages are the Cache & Memory
#: window's columns ("Memory Read", ..., "Memory Latency"; §2.4).
MEMORY_BENCHMARK_PAGES = {f"Memory {label}": metric for metric, label in schema.CACHE_MEMORY.columns}


def printed_units(metric: str) -> dict[str, float]:
    """Printed unit -> factor to canonical, for values of vocabulary `metric`."""
    return PRINTED_UNITS[schema.METRICS[metric].unit]

#: Sensor unit (as printed) -> kind, used to name native metrics "<source>:<kind>".
SENSOR_KINDS = {"°C": "temperature", "RPM": "fan", "V": "voltage", "W": "power", "A": "current",
                "%": "percent", "MHz": "clock", "МГц": "clock"}


#: Sensor group title (English and the RU v7.35 / PT-BR v5.75 samples' translations) -> kind,
#: to name a reading the trial version masked (its unit is not printed then).
SENSOR_GROUPS = {
    "Temperatures": "temperature", "Температуры": "temperature", "Temperaturas": "temperature",
    "Cooling Fans": "fan", "Вентиляторы": "fan", "Ventoinhas": "fan",
    "Voltage Values": "voltage", "Напряжения": "voltage", "Valores de voltagens": "voltage",
    "Power Values": "power", "Значения мощности": "power", "Potência Dissipada": "power",
    "Current Values": "current", "Значения тока": "current",
}
#: Kind -> the unit AIDA64 prints for it (°C with the °F in parentheses, §2.2).
KIND_UNITS = {"temperature": "°C", "fan": "RPM", "voltage": "V", "power": "W", "current": "A", "percent": "%"}

#: Localized sensor labels -> AIDA64's English label, so a Russian report's "ЦП" and a
#: Brazilian one's "Processador" are the component "CPU" as in an English report. English
#: labels checked against the EN v5.95/v5.98 reports and the 2011 shared-memory sample
#: ("CPU", "Motherboard", "CPU Core", "Battery", "Battery Charge Rate", "CPU #1 / Core #1");
#: those marked [INFERRED] have no English sample showing them.
SENSOR_LABELS = {
    "ЦП": "CPU", "Processador": "CPU", "Системная плата": "Motherboard", "Placa-mãe": "Motherboard",
    "Ядро ЦП": "CPU Core", "Núcleo CPU": "CPU Core", "Bateria": "Battery",
    "Taxa de carga da bateria": "Battery Charge Rate",
    "Гнездо ЦП": "CPU Socket",  # [INFERRED]
    "ЦП доп.": "CPU Aux",  # [INFERRED]
}
#: Numbered labels: "ЦП 1 / Ядро 3", "CPU 1 / Núcleo 3" -> "CPU #1 / Core #3"; "Шасси 2" -> "Chassis #2".
SENSOR_PATTERNS = (
    (re.compile(r"(?:ЦП|CPU) (\d+) / (?:Ядро|Núcleo) (\d+)"), r"CPU #\1 / Core #\2"),
    (re.compile(r"Шасси (\d+)"), r"Chassis #\1"),  # [INFERRED]
)


def canonical_label(label: str) -> str:
    """A sensor label as the English AIDA64 prints it (unknown labels unchanged)."""
    if label in SENSOR_LABELS:
        return SENSOR_LABELS[label]
    for pattern, english in SENSOR_PATTERNS:
        if pattern.fullmatch(label):
            return pattern.sub(english, label)
    return label


def value_with_unit(text: str, units: dict[str, float], *, source: str, line: int | str | None,
                    what: str) -> float:
    """``"5354 MB"`` -> 5354 * MiB; ``[ TRIAL VERSION ]`` -> NaN (withheld by the file).

    Raises ParseError naming the accepted units when the unit is not one of `units`.
    """
    text = text.replace("\xa0", " ").strip()
    if text == TRIAL:
        return math.nan
    m = re.fullmatch(r"(-?[0-9]+(?:\.[0-9]+)?)\s*(\S+)", text)
    if not m:
        raise ParseError(source, line, f"{what}: a number and a unit ({', '.join(units)})", repr(text))
    if m.group(2) not in units:
        raise ParseError(source, line, f"{what} in one of the units {', '.join(units)}",
                         f"unit {m.group(2)!r} in {text!r}")
    return _numbers.to_float(m.group(1), source=source, line=line, what=what) * units[m.group(2)]


def sensor_reading(text: str) -> tuple[float, str] | None:
    """``"55 °C  (131 °F)"`` -> ``(55.0, "°C")``; None if the cell is not one reading.

    Only the first reading counts: AIDA64 adds °F in parentheses (§2.2). Cells such as
    ``"[ TRIAL VERSION ] / 42 °C"`` (RU v7.35, a drive) or ``"AC Line"`` are not one reading.
    """
    m = re.fullmatch(r"(-?[0-9]{1,300}(?:\.[0-9]{1,300})?) ?(°C|RPM|V|W|A|%|MHz|МГц)"
                     r"(?:\s+\(-?[0-9]+(?:\.[0-9]+)? °F\))?", text.replace("\xa0", " ").strip())
    return (float(m.group(1)), m.group(2)) if m else None  # (at most 300 digits: always finite)


def snake(key: str) -> str:
    """``"DRAM:FSB Ratio"`` -> ``"dram_fsb_ratio"`` (metadata keys)."""
    return re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_")


def frame(rows: Iterable[dict[str, Any]], *, source_name: str, source: str,
          meta: dict[str, str] | None = None) -> pl.DataFrame:
    """Rows -> measurement table (labels left null), with ``source``/``source_file`` set and
    ``host`` = the report's computer name where it states one (a caller's or manifest's
    ``host`` label overrides it)."""
    computer = (meta or {}).get("computer", "").strip()
    host = computer if computer and TRIAL not in computer else None
    return schema.from_rows(rows, source=source_name, source_file=source, host=host)


def withheld(table: pl.DataFrame) -> int:
    """Values the trial version masked: the NaN rows (every page reads a mask as NaN)."""
    return int(table["value"].is_nan().sum())


def warn_native(table: pl.DataFrame | None, *, source: str, withheld: int = 0, dropped: Iterable[str] = (),
                counts: dict[tuple[str, str], int] | None = None) -> None:
    """One warning per file naming the native metrics kept and what the file withheld
    (`counts`: values per (metric, unit), for a reader whose table came in pieces)."""
    if counts is None:
        native = table.group_by("metric", "unit").len()
        counts = {(m, u): n for m, u, n in native.iter_rows()}
    counts = {(m, u): n for (m, u), n in counts.items() if ":" in m}
    parts = []
    if counts:
        shown = ", ".join(f"{m} ({u or 'no unit'}, {n} values)" for (m, u), n in sorted(counts.items()))
        parts.append(f"kept values outside the metric vocabulary as native metrics: {shown}")
    if withheld:
        parts.append(f"{withheld} value(s) withheld by the trial version ({TRIAL}) are missing (NaN)")
    dropped = sorted(set(dropped))
    if dropped:
        parts.append(f"text columns not in the table: {', '.join(dropped)}")
    if parts:
        warnings.warn(f"{source}: " + "; ".join(parts), NativeMetricWarning, stacklevel=3)


def line_of(text: str, offset: int) -> int:
    """1-based line number of character `offset` in `text`."""
    return text.count("\n", 0, offset) + 1
