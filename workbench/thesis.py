"""The founding thesis (Palmieri 2015): its transcribed tables and their audit.

The thesis printed each measurement once, in tables and in prose. This module
loads the transcription (``data/thesis/``, see its README) and checks it for
internal consistency: parts that should add up, printed percentages against the
ratio they summarize, claims the text makes about the tables, and passages that
contradict each other or the thesis's own definitions (quoted in :data:`CLAIMS`).
It reports every check with its size (or its two quotes) and never "fixes" the
transcription.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from . import schema, stats, storage
from .errors import WorkbenchError
from .readers.thesis import STAGE_HOST_BOOTED, STAGE_WS2003, load_transcription
from .schema import CACHE_MEMORY, Direction, display_unit
from .schema import metric as metric_spec

#: Figure number -> transcription file name.
FILES = {
    9: "fig09_overhead_model.csv",
    63: "fig63_host_guest_specs_virtualized.csv",
    65: "fig65_cpu_per_core.csv",
    67: "fig67_host_memory.csv",
    69: "fig69_everest_cache_memory.csv",
    70: "fig70_everest_cache_memory.csv",
    71: "fig71_everest_cache_memory.csv",
    73: "fig73_host_guest_specs_paravirtualized.csv",
    74: "fig74_xencenter_memory.csv",
    79: "fig79_cpu_memory_both_methods.csv",
}


def load(directory: str | os.PathLike, figure: int) -> pl.DataFrame:
    """The transcription of one figure as a typed frame (one row per printed cell)."""
    if figure not in FILES:
        raise WorkbenchError(f"figure {figure} has no transcription; transcribed: {sorted(FILES)}")
    if not Path(directory).is_dir():
        raise WorkbenchError(f"{directory}: {'is not a directory' if Path(directory).exists() else 'no such directory'}; "
                             "expected the folder of the thesis transcription (data/thesis)")
    path = Path(directory) / FILES[figure]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such file (thesis transcription of figure {figure})") from None
    except OSError as exc:
        raise WorkbenchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return load_transcription(data, source=str(path))


def spec_table(directory: str | os.PathLike, figure: int) -> pl.DataFrame:
    """Figures 63 and 73 laid out as printed: one row per device, one column per system."""
    cells = load(directory, figure)
    table = cells.pivot(on="column_en", index=["row", "row_es", "row_en"], values="printed",
                        aggregate_function="first").sort("row").drop("row")
    return table.rename({"row_es": "device (es)", "row_en": "device"})


#: Where each section cited by the audit begins, from the thesis's table of contents
#: (the text has no page breaks: a page is the first page of its section).
PAGES = {
    "2.1.4.4": 20, "2.1.4.5": 21, "2.1.4.5.1": 21, "2.2": 35, "2.2.1.4": 40, "2.2.1.6": 41, "2.5": 47,
    "3.2": 49, "3.3": 50, "3.5.4": 61, "3.6.1": 70, "3.6.3": 73, "3.6.4": 76, "4.1": 78, "4.2": 78, "4.2.1": 80, "4.2.2": 84,
    "4.3": 85, "4.3.1": 85, "4.3.2": 86, "5.1": 89, "5.3": 90, "5.4": 90, "5.5": 91, "6": 93, "7": 95,
}


def pages(section: str) -> str:
    """``"4.3.2, 5.4"`` -> ``"pp. 86, 90"`` (first page of each section; ``""`` if unknown)."""
    found = list(dict.fromkeys(str(PAGES[s.strip()]) for s in section.split(",") if s.strip() in PAGES))
    if not found:
        return ""
    return ("p. " if len(found) == 1 else "pp. ") + ", ".join(found)


@dataclass(frozen=True)
class Finding:
    """One audit check: what was compared, the sizes, and whether they agree.

    ``expected`` is what the other printed numbers (or the arithmetic, or the
    text's claim) imply; ``found`` is what the thesis prints; ``difference =
    found - expected`` in ``unit``. ``relation`` says what agreement means:
    ``"="`` within ``tolerance`` (what rounding of printed values allows),
    ``">"`` or ``"<"`` for claims of direction or bounds ("exceeded 50 %").

    A finding with ``relation = "≠"`` has no numbers: two passages of the thesis
    that cannot both hold, ``quote`` against ``against`` (exact Spanish text, the
    tests find each in the thesis), always a discrepancy. ``quote`` may also
    carry the words a numeric check tests.
    """

    check: str
    figures: tuple[int, ...]
    section: str
    description: str
    expected: float | None
    found: float | None
    unit: str
    tolerance: float = 0.0
    relation: str = "="
    quote: str = ""
    against: str = ""

    @property
    def difference(self) -> float | None:
        if self.expected is None or self.found is None:
            return None
        return self.found - self.expected

    @property
    def consistent(self) -> bool:
        if self.relation == "≠":
            return False
        if self.relation == ">":
            return self.found > self.expected
        if self.relation == "<":
            return self.found < self.expected
        return abs(self.difference) <= self.tolerance + 1e-9

    @property
    def pages(self) -> str:
        return pages(self.section)

    def describe(self) -> str:
        mark = "ok  " if self.consistent else "DISC"
        figs = ", ".join(str(f) for f in self.figures)
        where = f"fig. {figs} §{self.section}" if figs else f"§{self.section}"
        if self.pages:
            where += f" ({self.pages})"
        if self.relation == "≠":
            return f"{mark} [{self.check}] {where}: {self.description}: «{self.quote}» against «{self.against}»"
        want = {"=": f"{self.expected:g} {self.unit} (±{self.tolerance:g})",
                ">": f"more than {self.expected:g} {self.unit}",
                "<": f"less than {self.expected:g} {self.unit}"}[self.relation]
        return (f"{mark} [{self.check}] {where}: {self.description}: "
                f"expected {want}, found {self.found:g} {self.unit} "
                f"(difference {self.difference:+.4g} {self.unit})")


@dataclass(frozen=True)
class Claim:
    """A passage of the thesis the audit or the re-judging uses: its exact Spanish
    words (``quote``, found verbatim in the thesis by the tests), an English
    rendering, and the numbers it states (``values``: name -> number, each printed in
    the quote). ``kind`` is ``"conclusion"`` for what the thesis concludes,
    ``"bound"``/``"approximate"`` for numbers stated as bounds or approximately
    (kept here as words: how bounds are stored for statistics is the readers'
    business), ``"statement"`` otherwise."""

    key: str
    section: str
    quote: str
    english: str
    kind: str = "statement"
    values: tuple[tuple[str, float], ...] = ()

    def value(self, name: str) -> float:
        return dict(self.values)[name]

    @property
    def pages(self) -> str:
        return pages(self.section)


#: The passages the audit and the re-judging quote (sections 2.1.4-7).
CLAIMS: tuple[Claim, ...] = (
    # -- what the thesis concludes
    Claim("final", "7", "Como conclusión final puedo decir que la paravirtualización supera las ventajas de la "
          "virtualización y mejora las desventajas que presenta.",
          "As a final conclusion, paravirtualization surpasses the advantages of virtualization and improves on "
          "its disadvantages.", "conclusion"),
    Claim("cpu", "5.4", "el manejo del CPU es mejor realizado por el sistema de paravirtualización donde el uso "
          "aproximado de este es del 25%, mientras la virtualización ronda el 40%.",
          "the CPU is handled better by paravirtualization, where its use is about 25 %, while virtualization "
          "is around 40 %.", "conclusion", (("paravirtualized", 25.0), ("virtualized", 40.0))),
    Claim("memory", "5.4", "lo más crítico es la utilización de memoria RAM, con el sistema de virtualización, con "
          "los dos servidores funcionando el uso de memoria supero el 50% de la misma.",
          "the most critical is RAM use: with virtualization and both servers running, memory use exceeded "
          "50 %.", "conclusion", (("virtualized", 50.0),)),
    Claim("memory-para", "5.4", "En cuanto a los sistemas paravirtualizados, en el mismo momento, el uso de memoria "
          "no había alcanzado el 40%.",
          "With the paravirtualized systems, at the same moment, memory use had not reached 40 %.", "conclusion",
          (("paravirtualized", 40.0),)),
    Claim("io", "7", "En cuanto a la paravirtualización presenta como ventaja la mejora de rendimiento general de los "
          "dispositivos de entrada y salida, la CPU y la Memoria.",
          "Paravirtualization has the advantage of better overall performance of I/O devices, CPU and memory.",
          "conclusion"),
    Claim("recommendation", "6", "la paravirtualización sería la mejor opción en la mayoría de los casos de una "
          "empresa en crecimiento",
          "paravirtualization would be the best option in most cases for a growing company", "conclusion"),
    # -- the host's hardware
    Claim("host-for-both", "3.2", "El equipo que fue utilizado como servidor host para sendas técnicas de "
          "virtualización se detalla a continuación",
          "The machine used as host server for both virtualization techniques is detailed below"),
    Claim("host-memory", "3.2", "Memoria del sistema: 3072 MB (DDR2-800 DDR2 SDRAM)",
          "System memory: 3072 MB (DDR2-800 DDR2 SDRAM)", values=(("size", 3072.0), ("speed", 800.0))),
    Claim("host-nic", "3.2", "Tarjeta de Red: nVIDIA nForce 590 SLI (MCP55PXE) - Gigabit LAN Controller",
          "Network card: nVIDIA nForce 590 SLI (MCP55PXE) - Gigabit LAN Controller"),
    Claim("cores-needed", "2.5", "contar con más de dos núcleos, sería necesario para el host anfitrión",
          "having more than two cores would be necessary for the host", "bound", (("cores", 2.0),)),
    Claim("xp-memory", "3.3", "el Windows XP finalizada su instalación completa ronda los 350 MB",
          "Windows XP, once fully installed, uses around 350 MB", "approximate", (("used", 350.0),)),
    # -- the host's operating system
    Claim("host-os", "3.3", "En el servidor host que prestara los servicios de virtualización y paravirtualización "
          "decidí que el Sistema Operativo a utilizar sea Windows XP Profesional SP3.",
          "On the host server providing the virtualization and paravirtualization services I chose Windows XP "
          "Professional SP3 as the operating system."),
    Claim("xenserver-dedicated", "3.6.1", "En este paso debemos instalar Citrix XenServer Free Edition para convertir "
          "al equipo en un servidor de virtualización dedicado.",
          "In this step we install Citrix XenServer Free Edition to turn the machine into a dedicated "
          "virtualization server."),
    # -- what chapter 2 calls full virtualization and paravirtualization
    Claim("full-direct", "2.1.4.4", "Este tipo de tecnología, envía las instrucciones de la MV (Máquina Virtual) al "
          "procesador físico.",
          "This kind of technology sends the VM's instructions to the physical processor."),
    Claim("full-emulates", "2.2", "A diferencia de la virtualización completa, donde se emula todo el sistema (BIOS, "
          "discos, procesadores, NICs, etc), un VMM de paravirtualización opera con invitados que han sido "
          "modificados para cooperar.",
          "Unlike full virtualization, where the whole system is emulated (BIOS, disks, processors, NICs, etc.), "
          "a paravirtualization VMM works with guests modified to cooperate."),
    Claim("para-modified", "2.2", "El código fuente del kernel invitado debe modificarse para reemplazar las "
          "instrucciones no virtualizables por llamadas explícitas al VMM, denominadas hypercalls.",
          "The guest kernel's source code must be modified to replace non-virtualizable instructions with explicit "
          "calls to the VMM, called hypercalls."),
    Claim("para-open-source", "2.2", "sólo puede llevarse a cabo en sistemas operativos de código abierto (o sólo por "
          "el fabricante del software, en el caso del software propietario)",
          "[the modification] can only be done to open-source operating systems (or only by the vendor, for "
          "proprietary software)"),
    Claim("xen-hw-unmodified", "2.2.1.4", "Soporte de hardware de ayuda de los procesadores de Intel (Intel-VT) y AMD "
          "(AMD-V), permitiendo que los sistemas operativos invitados no sean modificados.",
          "Support for the hardware assistance of Intel (Intel-VT) and AMD (AMD-V) processors, so that guest "
          "operating systems need not be modified."),
    Claim("xen-full-needs-vt", "2.1.4.5.1", "Actualmente XEN es una solución de virtualización que nos ofrece "
          "virtualización completa únicamente bajo procesadores Intel VT o AMD Pacifica.",
          "Today XEN offers full virtualization only on Intel VT or AMD Pacifica processors."),
    Claim("para-devices", "2.2.1.6", "Los dispositivos virtuales son fáciles de acceder. Los datos se transfieren "
          "mediante E/S asíncrona de anillos",
          "[Paravirtualization, network and disk:] virtual devices are easy to access; data are transferred "
          "through asynchronous I/O rings"),
    Claim("same-install", "3.6.4", "Los pasos para la instalación de ambos sistemas operativos son los mismos que los "
          "ya explicados con anterioridad",
          "The installation steps of both operating systems [under XenServer] are the same as explained before "
          "[under VMware]"),
    Claim("fig73-network", "4.3", "Red\tPCnet32 LANCE\tMT Pro /1000 Intel\t1394 Net Adapter",
          "Network: PCnet32 LANCE (XenServer host), MT Pro /1000 Intel, 1394 Net Adapter (guests)"),
    Claim("para-needs-vt", "5.1", "nuestro procesador debe de soportar la tecnología que requiere la "
          "paravirtualización, como ser un Intel con Intel VT o AMD con AMD-V.",
          "our processor must support the technology paravirtualization requires, such as Intel VT or AMD-V."),
    Claim("xen-without-vt", "5.5", "Puede funcionar aun en hardware que no soporta virtualización completa.",
          "[XenServer] can work even on hardware that does not support full virtualization."),
    # -- measurements stated in the text
    Claim("cpu-peak-4.2.2", "4.2.2", "el uso del CPU supera por momento el 50% de su uso",
          "CPU use at times exceeds 50 %", "bound", (("cpu", 50.0),)),
    Claim("guests-1gb", "5.3", "a cada sistema se les asigno 1 GB de memoria",
          "each system was given 1 GB of memory", values=(("ram", 1.0),)),
    Claim("xen-guests", "4.3.1", "Se observa que entre los dos sistemas paravirtualizados están consumiendo un "
          "aproximado de 350 MB.",
          "The two paravirtualized systems together use about 350 MB.", "approximate", (("used", 350.0),)),
    Claim("xen-host", "4.3.1", "Y el sistema anfitrión posee un consumo promedio de los 900MB de un total de 3 GB "
          "disponibles.",
          "And the host uses on average 900 MB of a total of 3 GB.", "approximate",
          (("used", 900.0), ("total", 3.0))),
    # -- figure numbering
    Claim("fig35-dns", "3.5.4", "Figura 35: Asignación del nombre al servidor DNS.",
          "Figure 35: Name assigned to the DNS server."),
    Claim("fig35-netbios", "3.5.4", "Figura 35: Asignación del nombre en NetBIOS.",
          "Figure 35: Name assigned in NetBIOS."),
    Claim("fig57-cited", "3.6.3", "En la figura 57 observamos que para la configuración de la red",
          "In figure 57 we see that for the network configuration"),
    Claim("fig58-caption", "3.6.3", "Figura 58: Elección de red.", "Figure 58: Network choice."),
    Claim("no-network-data", "5.4", "no se podría tomar ningún dato para realizar una comparación de su uso en ambos "
          "sistemas virtuales",
          "no data could be taken to compare [network] use in both virtual systems"),
)
CLAIM = {c.key: c for c in CLAIMS}


def audit(directory: str | os.PathLike) -> list[Finding]:
    """Check the thesis tables for internal consistency; return every check.

    Checks (tolerance = half a unit of the last printed digit, the most rounding can explain):

    * fig. 9: instances x per-guest share = the printed totals; parts add up to "Total";
    * fig. 67: used + free = total, and printed "USO" = used / total;
    * fig. 69: EVEREST's clock = multiplier x FSB; memory bus = clock / 8 (DRAM:FSB "CPU/8");
    * §4.2.1 (figs. 69-71): "read and write went up about 100 MB/s" with the first guest;
      "latency went up a few ns"; with both guests "read and write went up" and
      "latency went up, less noticeably";
    * §4.2 (fig. 65): "at the most critical moments each core works at more than 50 %";
    * §4.3.2/§5.4 (figs. 65, 79): virtualized CPU "around 40 %" once steady, against
      the fig. 65 stage "steady with both guests";
    * §5.4 (figs. 67, 79): virtualized memory "exceeded 50 %"; paravirtualized "had not
      reached 40 %" against fig. 74's 900 MB of 3 GB;
    * figs. 63/73: the RAM the two spec tables give the same host;
    * the host across sections: §3.2's memory (3072 MB, DDR2-800) against figs. 63 and 69
      (EVEREST: DDR2-653 = 2 x its 326.5 MHz bus), §2.5's "more than two cores" against
      figs. 63/73, §3.2's network adapter against fig. 73's;
    * memory figures against the text: §3.3's Windows XP "around 350 MB" against fig. 67;
      §5.4's "had not reached 40 %" with the guests' 350 MB on top of the host's 900 MB;
      fig. 74's 900 MB used against the 2 x 1 GB the running guests were given (fig. 73);
    * §5.4's CPU order (paravirtualized 25 % below virtualized) against fig. 65; §4.2.2's
      "at times exceeds 50 %" against fig. 65;
    * passages that contradict each other or chapter 2's definitions (full virtualization
      vs paravirtualization, what needs Intel VT / AMD-V, the host OS, the I/O conclusion,
      figure numbers cited against captions):
      :data:`CONTRADICTIONS`, quoted from :data:`CLAIMS` (relation ``"≠"``, no sizes).

    Returns
    -------
    list of Finding
        All checks, consistent or not; filter on ``not f.consistent`` for discrepancies.
    """
    d = Path(directory)
    out: list[Finding] = []
    out += _audit_fig9(load(d, 9))
    out += _audit_fig67(load(d, 67))
    fig69, fig70, fig71 = (load(d, n) for n in (69, 70, 71))
    out += _audit_everest_clock(fig69)
    out += _audit_cachemem_text(fig69, fig70, fig71)
    out += _audit_cpu_text(load(d, 65), load(d, 79))
    out += _audit_memory_text(load(d, 67), load(d, 74), load(d, 79))
    f63, f73 = load(d, 63), load(d, 73)
    out += _audit_specs(f63, f73)
    out += _audit_hardware(f63, fig69, f73)
    out += _audit_memory_claims(load(d, 67), f73, load(d, 74), load(d, 79))
    out += _audit_cpu_claims(load(d, 65), load(d, 79))
    out += _audit_contradictions()
    return out


def discrepancies(directory: str | os.PathLike) -> pl.DataFrame:
    """The inconsistent findings of :func:`audit` as a table (for reports)."""
    return findings_frame([f for f in audit(directory) if not f.consistent])


def findings_frame(findings: list[Finding]) -> pl.DataFrame:
    """Findings as a table with their sizes."""
    return pl.DataFrame(
        [dict(check=f.check, figures=", ".join(map(str, f.figures)), section=f.section,
              description=f.description, expected=f.expected, found=f.found,
              difference=f.difference, unit=f.unit, relation=f.relation,
              tolerance=f.tolerance, consistent=f.consistent, pages=f.pages, quote=f.quote,
              against=f.against) for f in findings],
        schema={"check": pl.String, "figures": pl.String, "section": pl.String,
                "description": pl.String, "expected": pl.Float64, "found": pl.Float64,
                "difference": pl.Float64, "unit": pl.String, "relation": pl.String,
                "tolerance": pl.Float64, "consistent": pl.Boolean, "pages": pl.String,
                "quote": pl.String, "against": pl.String})


def _cell(frame: pl.DataFrame, row_en: str, column_en: str) -> float:
    hit = frame.filter((pl.col("row_en") == row_en) & (pl.col("column_en") == column_en))
    if hit.height != 1 or hit["value"][0] is None:
        raise WorkbenchError(f"thesis transcription: no single numeric cell ({row_en!r}, {column_en!r})")
    return float(hit["value"][0])


def _audit_fig9(f: pl.DataFrame) -> list[Finding]:
    out = []
    for row in ("full virtualization", "paravirtualization"):
        n = _cell(f, row, "guest instances")
        for part in ("virtualization cost", "useful processing"):
            out.append(Finding("fig9-total", (9,), "2.2",
                               f"{row}: {part}, {n:g} guests x per-guest share = printed total",
                               n * _cell(f, row, f"{part} per guest"), _cell(f, row, f"{part} total"), "%", 0.0))
        parts = _cell(f, row, "virtualization cost total") + _cell(f, row, "useful processing total")
        out.append(Finding("fig9-sum", (9,), "2.2", f"{row}: cost total + useful total = 'Total'",
                           parts, _cell(f, row, "total CPU"), "%", 0.0))
    return out


def _audit_fig67(f: pl.DataFrame) -> list[Finding]:
    out = []
    for case in f["column_en"].unique(maintain_order=True):
        total, used, free = (_cell(f, r, case) for r in ("total", "used", "free"))
        # 1 MB printed resolution per addend: at most 1 MB of rounding in the sum.
        out.append(Finding("fig67-sum", (67,), "4.2.1", f"{case}: used + free = total",
                           total, used + free, "MB", 1.0))
        out.append(Finding("fig67-percent", (67,), "4.2.1", f"{case}: printed use % = used / total",
                           round(100 * used / total, 2), _cell(f, "utilization", case), "%", 0.5))
    return out


def _audit_everest_clock(f: pl.DataFrame) -> list[Finding]:
    clock = _cell(f, "CPU Clock", "(system)")
    fsb = _cell(f, "CPU FSB", "(system)")
    bus = _cell(f, "Memory Bus", "(system)")
    return [
        Finding("fig69-clock", (69,), "4.2.1", "CPU clock = multiplier 13 x FSB", round(13 * fsb, 2), clock,
                "MHz", 13 * 0.05 + 0.05),
        Finding("fig69-membus", (69,), "4.2.1", "memory bus = CPU clock / 8 (DRAM:FSB ratio CPU/8)",
                round(clock / 8, 3), bus, "MHz", 0.05 + 0.05 / 8),
    ]


def _audit_cachemem_text(f69: pl.DataFrame, f70: pl.DataFrame, f71: pl.DataFrame) -> list[Finding]:
    # The transcriptions label rows and columns as the EVEREST window does ("L1 Cache", "Read").
    memory, latency = CACHE_MEMORY.row_label("memory"), CACHE_MEMORY.column_label("mem_latency")
    bandwidths = [CACHE_MEMORY.column_label(m) for m in ("mem_read_bw", "mem_write_bw")]
    out = []
    for col in bandwidths:
        change = _cell(f70, memory, col) - _cell(f69, memory, col)
        # "ha aumentado unos 100 MB/s": "about 100" taken as 100 +- 50 MB/s.
        out.append(Finding("text-4.2.1-bw", (69, 70), "4.2.1",
                           f"memory {col.lower()} 'went up about 100 MB/s' with the first guest "
                           "(found = fig. 70 - fig. 69)", 100.0, change, "MB/s", 50.0))
    for level in (CACHE_MEMORY.row_label("L1"), CACHE_MEMORY.row_label("L2")):
        change = _cell(f70, level, latency) - _cell(f69, level, latency)
        out.append(Finding("text-4.2.1-access", (69, 70), "4.2.1",
                           f"{level} access time 'continues with similar values' (found = change)",
                           0.0, change, "ns", 0.05))
    lat = _cell(f70, memory, latency) - _cell(f69, memory, latency)
    out.append(Finding("text-4.2.1-latency", (69, 70), "4.2.1",
                       "memory latency 'went up some nanoseconds' with the first guest "
                       "(found = fig. 70 - fig. 69)", 0.0, lat, "ns", relation=">"))
    for col in bandwidths:
        change = _cell(f71, memory, col) - _cell(f70, memory, col)
        out.append(Finding("text-4.2.1-bw2", (70, 71), "4.2.1",
                           f"memory {col.lower()} 'went up' with both guests (found = fig. 71 - fig. 70)",
                           0.0, change, "MB/s", relation=">"))
    # "un no tan notado aumento en el tiempo de Latencia": compared with fig. 70 (the
    # previous state) latency went down; compared with fig. 69 it went up. Both reported.
    for fig, prev in ((70, f70), (69, f69)):
        change = _cell(f71, memory, latency) - _cell(prev, memory, latency)
        out.append(Finding("text-4.2.1-latency2", (fig, 71), "4.2.1",
                           f"memory latency 'a less noticeable increase' with both guests "
                           f"(found = fig. 71 - fig. {fig})", 0.0, change, "ns", relation=">"))
    return out


def _audit_cpu_text(f65: pl.DataFrame, f79: pl.DataFrame) -> list[Finding]:
    lows = f65.group_by("row_en", maintain_order=True).agg(pl.col("value").min().alias("low"))
    stage, low = lows.sort("low", descending=True, maintain_order=True).row(0)
    steady = float(f65.filter(pl.col("row_en") == "steady with both guests")["value"].mean())
    claimed = _cell(f79, "virtualized", "CPU utilization")
    return [
        Finding("text-4.2-peak", (65,), "4.2",
                "'at the most critical moments each core works at more than 50 %' "
                f"(found = the less busy core in the busiest stage, '{stage}')", 50.0, low, "%", relation=">"),
        # "ronda el 40 %": around 40, taken as 40 +- 5 points.
        Finding("text-4.3.2-cpu", (65, 79), "4.3.2, 5.4",
                "virtualized CPU 'around 40 %' once steady (found = mean of both cores in fig. 65 "
                "'steady with both guests')", claimed, steady, "%", 5.0),
    ]


def _audit_memory_text(f67: pl.DataFrame, f74: pl.DataFrame, f79: pl.DataFrame) -> list[Finding]:
    share = 100 * _cell(f67, "used", "both guests running") / _cell(f67, "total", "both guests running")
    host_total = _cell(f74, "host (XenServer)", "memory total") * 1024  # "3 GB"
    para = 100 * _cell(f74, "host (XenServer)", "memory used") / host_total
    return [
        Finding("text-5.4-mem-virt", (67, 79), "5.4",
                "virtualized memory 'exceeded 50 %' with both guests (found = used / total in fig. 67)",
                _cell(f79, "virtualized", "memory utilization"), round(share, 2), "%", relation=">"),
        Finding("text-5.4-mem-para", (74, 79), "5.4",
                "paravirtualized memory 'had not reached 40 %' (found = 900 MB of 3 GB in fig. 74)",
                _cell(f79, "paravirtualized", "memory utilization"), round(para, 2), "%", relation="<"),
    ]


def _audit_specs(f63: pl.DataFrame, f73: pl.DataFrame) -> list[Finding]:
    ram63 = _cell(f63, "RAM", "host (Windows XP)")
    ram73 = _cell(f73, "RAM", "host (XenServer)") * 1024
    # 3 GB installed; Windows XP showed 3070 MB (2 MB short: shared video memory or
    # firmware reservations), so a few MB of difference is expected.
    return [Finding("spec-ram", (63, 73), "4.1, 4.3", "host RAM: fig. 63 (Windows XP) vs fig. 73 (XenServer, '3 GB')",
                    ram73, ram63, "MB", 8.0)]


def _printed(frame: pl.DataFrame, row_en: str, column_en: str) -> str:
    hit = frame.filter((pl.col("row_en") == row_en) & (pl.col("column_en") == column_en))
    if hit.height != 1:
        raise WorkbenchError(f"thesis transcription: no single cell ({row_en!r}, {column_en!r})")
    return str(hit["printed"][0])


def _audit_hardware(f63: pl.DataFrame, f69: pl.DataFrame, f73: pl.DataFrame) -> list[Finding]:
    """The one host as §2.5, §3.2 and figures 63, 69 and 73 describe it."""
    memory, cores = CLAIM["host-memory"], CLAIM["cores-needed"]
    memory_type = _printed(f69, "Memory Type", "(system)")
    match = re.search(r"DDR2-(\d+)", memory_type)
    if match is None:
        raise WorkbenchError(f"thesis transcription: fig. 69 Memory Type {memory_type!r} names no DDR2-NNN speed")
    everest_speed = float(match.group(1))
    bus = _cell(f69, "Memory Bus", "(system)")
    nic63 = _printed(f63, "network adapter", "host (Windows XP)")
    nic73 = _printed(f73, "network adapter", "host (XenServer)")
    guests63 = [_printed(f63, "network adapter", g) for g in ("Windows Server 2003 guest", "TrixBox CE guest")]
    return [
        # DDR2 moves two transfers per bus clock: EVEREST's own label and its bus clock agree.
        Finding("spec-memory-type", (69,), "4.2.1", "EVEREST memory type 'DDR2-NNN' = 2 x memory bus (MT/s)",
                round(2 * bus, 1), everest_speed, "MT/s", 1.0),
        Finding("spec-memory-speed", (69,), "3.2, 4.2.1",
                f"host memory speed: §3.2 'DDR2-800' against EVEREST's '{memory_type}' (fig. 69)",
                memory.value("speed"), everest_speed, "MT/s", 0.0, quote=memory.quote),
        Finding("spec-ram-3.2", (63,), "3.2, 4.1", "host RAM: §3.2 '3072 MB' against fig. 63 (Windows XP)",
                memory.value("size"), _cell(f63, "RAM", "host (Windows XP)"), "MB", 8.0, quote=memory.quote),
        Finding("spec-cores", (63, 73), "2.5, 4.1, 4.3",
                "host cores: §2.5 'more than two cores would be necessary for the host' against the host of "
                "figs. 63/73 (found)", cores.value("cores"), _cell(f63, "cores", "host (Windows XP)"), "cores",
                relation=">", quote=cores.quote),
        Finding("spec-host-nic", (63, 73), "3.2, 4.1, 4.3",
                f"the same host ('{CLAIM['host-for-both'].quote}'): §3.2 and fig. 63 ('{nic63}') give an nVIDIA "
                f"nForce adapter, fig. 73 (XenServer) '{nic73}' (outside the thesis: the AMD PCnet/LANCE "
                "is the adapter VMware and QEMU emulate)", None, None, "", relation="≠",
                quote=CLAIM["host-nic"].quote, against=nic73),
        Finding("def-para-devices", (63, 73), "2.2.1.6, 4.3",
                "fig. 11's paravirtualized network and disk are virtual devices with I/O rings, yet the "
                "'paravirtualized' guests of fig. 73 report the adapters the VMware guests report in fig. 63 "
                f"({', '.join(guests63)})", None, None, "", relation="≠",
                quote=CLAIM["para-devices"].quote, against=CLAIM["fig73-network"].quote),
    ]


def _audit_memory_claims(f67: pl.DataFrame, f73: pl.DataFrame, f74: pl.DataFrame,
                         f79: pl.DataFrame) -> list[Finding]:
    xp = CLAIM["xp-memory"]
    guests = _cell(f74, "both paravirtualized guests", "memory used")
    host = _cell(f74, "host (XenServer)", "memory used")
    total = _cell(f74, "host (XenServer)", "memory total") * 1024  # "3 GB"
    assigned = 1024 * sum(_cell(f73, "RAM", g) for g in ("Windows Server 2003 guest", "TrixBox CE guest"))
    return [
        # "ronda los 350 MB": around 350, taken as 350 +- 50 MB.
        Finding("text-3.3-xp-memory", (67,), "3.3, 4.2.1",
                "Windows XP 'uses around 350 MB' once installed (found = fig. 67, host just booted)",
                xp.value("used"), _cell(f67, "used", "host just booted"), "MB", 50.0, quote=xp.quote),
        # §4.3.1 does not say whether the host's 900 MB include the guests' 350 MB: the
        # check text-5.4-mem-para reads them as included, this one as on top.
        Finding("text-5.4-mem-para-sum", (74, 79), "4.3.1, 5.4",
                "paravirtualized memory 'had not reached 40 %' if the guests' ~350 MB come on top of the host's "
                "~900 MB (found = (350 + 900) MB of 3 GB)", _cell(f79, "paravirtualized", "memory utilization"),
                round(100 * (guests + host) / total, 2), "%", relation="<", quote=CLAIM["memory-para"].quote),
        # Xen gives a running guest its memory when it starts (XenServer 6.2's ballooning
        # needs PV drivers in the guest and still reserves a dynamic minimum): the host's
        # used memory includes what it gave its guests.
        Finding("fig73-74-guest-memory", (73, 74), "4.3, 4.3.1",
                "XenServer host 'uses ~900 MB' while its two running guests were given 1 GB each (fig. 73): "
                "used memory should exceed the guests' allocation", assigned, host, "MB", relation=">",
                quote=CLAIM["xen-host"].quote),
    ]


def _audit_cpu_claims(f65: pl.DataFrame, f79: pl.DataFrame) -> list[Finding]:
    steady = float(f65.filter(pl.col("row_en") == "steady with both guests")["value"].mean())
    services = float(f65.filter(pl.col("row_en") == "access to guest services")["value"].mean())
    peak = CLAIM["cpu-peak-4.2.2"]
    return [
        Finding("text-5.4-cpu-order", (65, 79), "4.3.2, 5.4",
                "paravirtualization 'handles the CPU better' (about 25 % against 'around 40 %'), against the "
                "virtualized host of fig. 65 steady with both guests (found = the paravirtualized 25 %)",
                steady, _cell(f79, "paravirtualized", "CPU utilization"), "%", relation="<",
                quote=CLAIM["cpu"].quote),
        Finding("text-4.2.2-peak", (65,), "4.2.2",
                "'CPU use at times exceeds 50 %' once both guests are used (found = mean of both cores in fig. 65 "
                "'access to guest services')", peak.value("cpu"), services, "%", relation=">", quote=peak.quote),
    ]


#: Passages that cannot both hold: (check, sections, what, claim key, against key).
CONTRADICTIONS = (
    ("host-os", "3.3, 3.6.1", "one host OS, Windows XP, for both techniques; yet XenServer is installed on the "
     "machine itself as a dedicated server (§5.1: 'an operating system installed as such')",
     "host-os", "xenserver-dedicated"),
    ("def-para-guest", "2.2, 3.6.4", "paravirtualization needs a modified guest kernel (only open-source systems or "
     "their vendor can modify one), yet Windows Server 2003 is installed under XenServer as under VMware and called "
     "paravirtualized: by chapter 2 an unmodified guest on Xen is full (hardware-assisted) virtualization",
     "para-modified", "same-install"),
    ("def-para-hw", "5.1, 2.2.1.4", "Intel VT / AMD-V named as what paravirtualization requires; chapter 2 names "
     "them as what lets Xen run unmodified guests, i.e. full virtualization (also §2.1.4.5.1)",
     "para-needs-vt", "xen-hw-unmodified"),
    ("def-para-hw-5.5", "5.1, 5.5", "XenServer needs Intel VT / AMD-V (§5.1, also §2.5 and §7), yet 'works even on "
     "hardware without support for full virtualization' (§5.5)", "para-needs-vt", "xen-without-vt"),
    ("def-full-virt", "2.1.4.4, 2.2", "full virtualization runs the VM's instructions on the physical processor "
     "(§2.1.4.4), yet emulates the whole system including processors (§2.2), which is §2.1.4.1's emulation",
     "full-direct", "full-emulates"),
    ("fig-35-twice", "3.5.4", "two captions numbered 35 (the text cites both as 'figure 35')", "fig35-dns",
     "fig35-netbios"),
    ("fig-57-58", "3.6.3", "the text cites figure 57, the caption under it is numbered 58 and no caption is "
     "numbered 57 (the duplicate 35 and the missing 57 cancel out: figures 63-79 are numbered as cited)",
     "fig57-cited", "fig58-caption"),
    ("conclusion-io", "7, 5.4", "the conclusion credits paravirtualization with better I/O performance; no disk "
     "figure is compared and §5.4 says the network data allow no comparison", "io", "no-network-data"),
)


def _audit_contradictions() -> list[Finding]:
    return [Finding(check, (), sections, what, None, None, "", relation="≠",
                    quote=CLAIM[claim].quote, against=CLAIM[against].quote)
            for check, sections, what, claim, against in CONTRADICTIONS]


def cache_memory_table(table: pl.DataFrame) -> pl.DataFrame:
    """Figures 69-71 in EVEREST's layout: rows Memory/L1/L2/L3, columns Read/Write/Copy
    (MB/s) and Latency (ns), one block per stage."""
    metrics = {m: CACHE_MEMORY.column_label(m, unit=True) for m in CACHE_MEMORY.metrics}
    data = table.filter(pl.col("metric").is_in(list(metrics)))
    if data.is_empty():
        raise WorkbenchError(f"no rows for metric(s) {list(metrics)}")
    data = data.with_columns(
        shown=(pl.col("value") * pl.col("metric").replace_strict(
            {m: display_unit(m)[1] for m in metrics}, return_dtype=pl.Float64)).round(1),
        column=pl.col("metric").replace(metrics))
    return (data.pivot(on="column", index=["stage", "component"], values="shown",
                       aggregate_function="first", maintain_order=True)
            .select("stage", "component", *metrics.values()))


# --------------------------------------------------------------------------- the thesis re-judged

#: The thesis's conditions, as its own chapter 2 and the audit describe them.
THESIS_TECHNIQUES = {
    "virtualized": "full virtualization: VMware Workstation 10, hosted on Windows XP (type 2)",
    "paravirtualized": "what the thesis calls paravirtualization: XenServer 6.2 (type 1); its Windows guest was "
                       "unmodified, i.e. hardware-assisted full virtualization by chapter 2 (audit: def-para-guest)",
}
#: The lab's conditions (issue 13): one technique each, on today's Linux and QEMU.
LAB_TECHNIQUES = {
    "native": "no virtualization (this machine, itself a guest of its provider)",
    "emulated": "emulation: QEMU TCG, dynamic binary translation",
    "paravirtualized": "paravirtualization: User-Mode Linux (a kernel ported to run as a process)",
    "hw-virtualized": "hardware-assisted full virtualization: QEMU with KVM",
}
#: Where the lab's results are looked for, relative to the repository (issue 13, item 4).
LAB_GLOB = "**/*.parquet"  # a shipped run is a folder per run (data/lab/<date>/table.parquet)
#: Pairs (thesis claim key, metric, stage) the re-judging reads differences of, besides
#: the conditions compared by :func:`thesis_evidence`: §4.2.1's first guest against
#: the freshly booted host (figs. 69/70).
EVEREST_CLAIMS = (("mem_read_bw", "memory", "read bandwidth 'went up about 100 MB/s' with the first guest"),
                  ("mem_latency", "memory", "latency 'went up some nanoseconds' with the first guest"))


def techniques() -> pl.DataFrame:
    """The thesis's conditions and the lab's, each with the technique it stands for."""
    rows = [dict(study="thesis 2015", condition=k, technique=v) for k, v in THESIS_TECHNIQUES.items()]
    rows += [dict(study="lab (issue 13)", condition=k, technique=v) for k, v in LAB_TECHNIQUES.items()]
    return pl.DataFrame(rows)

def conclusions() -> pl.DataFrame:
    """What the thesis concludes (:data:`CLAIMS` of kind ``conclusion``): section,
    first page, its words and an English rendering."""
    rows = [dict(section=c.section, pages=c.pages, quote=c.quote, english=c.english)
            for c in CLAIMS if c.kind == "conclusion"]
    return pl.DataFrame(rows, schema={"section": pl.String, "pages": pl.String, "quote": pl.String,
                                      "english": pl.String})


def thesis_evidence(table: pl.DataFrame, *, alpha: float = 0.05, test: str = stats.DEFAULT_TEST) -> pl.DataFrame:
    """The thesis's own comparison (paravirtualized against virtualized, as
    ``thesis-compare`` makes it): per cell the runs of each condition, where each
    value comes from (a printed table or the text), the descriptive ratio, and what
    the statistics allow (``status``, ``runs_needed``)."""
    result = stats.compare_all(table, baseline="virtualized", alpha=alpha, test=test)
    rows = []
    for c in result:
        cell = dict(c.cell)
        where = table.filter((pl.col("metric") == c.metric) & (pl.col("stage") == cell.get("stage"))
                             & (pl.col("component") == cell.get("component")))
        sources = {cond: ", ".join(sorted(where.filter(pl.col("condition") == cond)["source"].unique()))
                   for cond in (c.baseline.condition, c.treatment.condition)}
        shown, factor = display_unit(c.metric, c.unit)

        def value(s: stats.Summary, factor: float = factor) -> float:
            """The mean of the runs, or where the text gives only a bound, the bound."""
            if s.runs:
                return s.mean * factor
            return (s.bound_lower if s.bound_lower is not None else s.bound_upper) * factor

        for s in (c.baseline, c.treatment):
            if not s.runs:
                sources[s.condition] += f" ({'lower' if s.bound_lower is not None else 'upper'} bound)"
        rows.append(dict(metric=c.metric, stage=cell.get("stage"), unit=shown,
                         virtualized=value(c.baseline), paravirtualized=value(c.treatment),
                         runs_virtualized=c.baseline.runs, runs_paravirtualized=c.treatment.runs,
                         source_virtualized=sources[c.baseline.condition],
                         source_paravirtualized=sources[c.treatment.condition],
                         ratio=c.ratio.value, status=c.status.value, runs_needed=c.rule.runs_needed))
    return pl.DataFrame(rows)


def smallest_detectable(runs: int, *, alpha: float = 0.05, comparisons: int = 1, power: float = 0.8,
                        test: str = stats.DEFAULT_TEST) -> float | None:
    """Smallest difference of means, in run-to-run standard deviations (Cohen's d),
    that `runs` runs per condition detect with `power`: the planner's power function
    (:func:`workbench.stats.t_test_power`, two-sided, at alpha / comparisons, Hsu's
    n - 1 degrees of freedom for ``welch_hsu``, as :func:`workbench.stats.plan`).
    None below :func:`workbench.stats.runs_needed`: no test is calibrated there."""
    from scipy.optimize import brentq

    if runs < stats.runs_needed(alpha, comparisons, test):
        return None
    df_test = runs - 1 if test == "welch_hsu" else None

    def short(d: float) -> float:
        return stats.t_test_power(d, runs, runs, alpha / comparisons, df_test) - power

    hi = 1.0
    while short(hi) < 0:
        hi *= 2
    return float(brentq(short, 1e-9, hi, xtol=1e-9))


def everest_pilot(table: pl.DataFrame) -> np.ndarray:
    """The one repeated reading in the thesis: EVEREST's L1 read bandwidth in the three
    states of figs. 69-71 (a core's L1 does not depend on idle guests; §4.2.1 finds
    the cache values "similar"). Its spread is a lower bound on EVEREST's run-to-run
    noise (memory is noisier than L1)."""
    values = table.filter((pl.col("metric") == "mem_read_bw") & (pl.col("component") == "L1")
                          & (pl.col("source") == "everest-cachemem"))["value"].to_numpy()
    if values.size < 2:
        raise WorkbenchError(f"the thesis table has {values.size} EVEREST L1 read value(s); the pilot needs 2")
    return values


def detectable(table: pl.DataFrame, run_counts: tuple[int, ...] = (1, 2, 3, 4, 5, 10, 20, 30), *,
               alpha: float = 0.05, power: float = 0.8, test: str = stats.DEFAULT_TEST,
               evidence: pl.DataFrame | None = None) -> pl.DataFrame:
    """What a run count could have detected in the thesis's comparison (its cells,
    Holm over them): the smallest difference in run-to-run standard deviations
    (:func:`smallest_detectable`) and, at the noise of :func:`everest_pilot`, in
    percent of the mean. `evidence`: :func:`thesis_evidence` of `table`, if at hand."""
    comparisons = (thesis_evidence(table, alpha=alpha, test=test) if evidence is None else evidence).height
    cv = float(np.std(everest_pilot(table), ddof=1) / np.mean(everest_pilot(table)))
    rule = stats.runs_needed(alpha, comparisons, test)
    rows = []
    for n in run_counts:
        d = smallest_detectable(n, alpha=alpha, comparisons=comparisons, power=power, test=test)
        rows.append(dict(runs_per_condition=n, comparisons=comparisons, smallest_d=d,
                         smallest_change_at_everest_noise_pct=None if d is None else 100 * d * cv,
                         note=f"no test is calibrated below {rule} runs per condition" if d is None else ""))
    return pl.DataFrame(rows, schema={"runs_per_condition": pl.Int64, "comparisons": pl.Int64,
                                      "smallest_d": pl.Float64, "smallest_change_at_everest_noise_pct": pl.Float64,
                                      "note": pl.String})


def claims_needs(table: pl.DataFrame, *, alpha: float = 0.05, power: float = 0.8,
                 test: str = stats.DEFAULT_TEST, evidence: pl.DataFrame | None = None) -> pl.DataFrame:
    """Each difference the thesis drew a conclusion from, and what detecting it would
    take: the largest run-to-run coefficient of variation at which 4 and 10 runs per
    condition detect it (``|change| / smallest d``), and for EVEREST's readings the
    runs :func:`workbench.stats.plan` asks for at the noise of :func:`everest_pilot`.
    `evidence`: :func:`thesis_evidence` of `table`, if at hand."""
    if evidence is None:
        evidence = thesis_evidence(table, alpha=alpha, test=test)
    comparisons = evidence.height
    d4, d10 = (smallest_detectable(n, alpha=alpha, comparisons=comparisons, power=power, test=test) for n in (4, 10))
    # sizes (mem_total: the RAM each host reports) are not a cost the thesis concluded on
    # a cell known only as a bound has no change to detect: the bounds say what they allow
    rows = [dict(claim=f"{r['metric']} ({r['stage']}): paravirtualized vs virtualized", change=r["ratio"] - 1,
                 everest=False) for r in evidence.iter_rows(named=True)
            if metric_spec(r["metric"]).direction is not Direction.NEUTRAL and r["status"] != "bounds only"]
    for metric, component, words in EVEREST_CLAIMS:
        sel = table.filter((pl.col("metric") == metric) & (pl.col("component") == component))
        before = float(sel.filter(pl.col("stage") == STAGE_HOST_BOOTED)["value"][0])
        after = float(sel.filter(pl.col("stage") == STAGE_WS2003)["value"][0])
        rows.append(dict(claim=f"§4.2.1 {metric}: {words}", change=after / before - 1, everest=True))
    pilot = everest_pilot(table)
    out = []
    for r in rows:
        size = abs(r["change"])
        runs = stats.plan(pilot, change=size, power=power, alpha=alpha, comparisons=comparisons,
                          test=test).runs_per_condition if r["everest"] and size > 0 else None
        out.append(dict(claim=r["claim"], change_pct=100 * r["change"], runs_in_thesis=1,
                        max_cv_pct_4_runs=100 * size / d4, max_cv_pct_10_runs=100 * size / d10,
                        runs_needed_at_everest_noise=runs))
    return pl.DataFrame(out, schema={"claim": pl.String, "change_pct": pl.Float64, "runs_in_thesis": pl.Int64,
                                     "max_cv_pct_4_runs": pl.Float64, "max_cv_pct_10_runs": pl.Float64,
                                     "runs_needed_at_everest_noise": pl.Int64})


def lab_table(lab_dir: str | os.PathLike) -> pl.DataFrame | None:
    """The lab's results (every ``*.parquet`` in `lab_dir`, concatenated), or None
    when the folder is absent or holds none: the lab data are not bundled."""
    files = sorted(Path(lab_dir).glob(LAB_GLOB)) if Path(lab_dir).is_dir() else []
    if not files:
        return None
    return pl.concat([storage.read_table(f) for f in files], how="diagonal_relaxed")


def lab_costs(table: pl.DataFrame, *, baseline: str = "native", alpha: float = 0.05,
              test: str = stats.DEFAULT_TEST, include_flagged: bool = True) -> pl.DataFrame:
    """Each technique against `baseline` per metric: the ratio of means with its
    interval and verdict, and the cost as a factor on the baseline's (time per unit
    of work: the ratio for lower-is-better metrics, its inverse for higher-is-better
    ones; None for usage or neutral metrics). Trials the guards flagged are kept by default,
    as the lab report keeps and counts them (the shipped run shared the machine with other
    sessions); ``include_flagged=False`` leaves them out."""
    conditions = table["condition"].unique().to_list()
    if baseline not in conditions:
        raise WorkbenchError(f"the lab table has no {baseline!r} condition to compare against; "
                             f"conditions: {', '.join(sorted(c for c in conditions if c is not None))}")
    result = stats.compare_all(table, baseline=baseline, alpha=alpha, test=test, include_flagged=include_flagged)
    rows = []
    for c in result:
        direction = metric_spec(c.metric, c.unit).direction
        cost = {Direction.LOWER: c.ratio.value,
                Direction.HIGHER: 1 / c.ratio.value if c.ratio.value else None}.get(direction)
        if cost is not None and not math.isfinite(cost):  # a ratio against a zero baseline
            cost = None
        rows.append(dict(metric=c.metric, component=dict(c.cell).get("component"), condition=c.treatment.condition,
                         technique=LAB_TECHNIQUES.get(c.treatment.condition, c.treatment.condition),
                         runs=c.treatment.runs, baseline_runs=c.baseline.runs, ratio=c.ratio.value,
                         ratio_low=c.ratio.low, ratio_high=c.ratio.high, cost=cost, status=c.status.value,
                         verdict=c.verdict))
    return pl.DataFrame(rows, schema={"metric": pl.String, "component": pl.String, "condition": pl.String,
                                      "technique": pl.String, "runs": pl.Int64, "baseline_runs": pl.Int64,
                                      "ratio": pl.Float64, "ratio_low": pl.Float64, "ratio_high": pl.Float64,
                                      "cost": pl.Float64, "status": pl.String, "verdict": pl.String})


def lab_answer(table: pl.DataFrame, *, alpha: float = 0.05, test: str = stats.DEFAULT_TEST,
               include_flagged: bool = True) -> list[str]:
    """The thesis's question on today's techniques: every other technique against
    paravirtualization, metric by metric, as verdicts ("hw-virtualized is 3.0 %
    faster than paravirtualized ..."). Empty when the lab has no paravirtualized
    condition."""
    if "paravirtualized" not in table["condition"].unique().to_list():
        return []
    # techniques only: not native, nor its A/A repeat (native-aa)
    others = table.filter((pl.col("condition") != "native")
                          & ~pl.col("condition").cast(pl.String).str.ends_with(schema.AA_SUFFIX))
    return stats.compare_all(others, baseline="paravirtualized", alpha=alpha, test=test,
                             include_flagged=include_flagged).verdicts()


def lab_absent(lab_dir: str | os.PathLike) -> str:
    """What the re-judging says when the lab's results are not there (plain text: the
    notebook escapes it for Markdown)."""
    return (f"The lab data are not bundled: no *.parquet under {lab_dir}. With them (issue 13: native, emulated, "
            "paravirtualized and hw-virtualized on this machine), this section compares every technique with "
            "native and with paravirtualization.")
