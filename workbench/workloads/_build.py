"""Building the workloads' C sources with the system compiler, once per source and flags."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from ..errors import WorkbenchError


def compile_c(source: Path, flags: Sequence[str], folder: str | os.PathLike, stem: str, what: str,
              packages: str = "gcc") -> Path:
    """The executable of `source` built with ``gcc flags`` into `folder`, named
    ``<stem>-<hash of source and flags>`` (built when missing, written under a temporary
    name and renamed, so a concurrent build or an interrupted one never leaves half a binary).

    Raises
    ------
    WorkbenchError
        gcc is missing (`packages` says what to install), or the build fails (gcc's last line).
    """
    gcc = shutil.which("gcc")
    if gcc is None:
        raise WorkbenchError(f"the {what} workload needs gcc (apt-get install {packages})")
    digest = hashlib.sha256(source.read_bytes() + " ".join(flags).encode()).hexdigest()[:12]
    folder = Path(folder)
    exe = folder / f"{stem}-{digest}"
    if not exe.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{exe.name}.{os.getpid()}.tmp"
        done = subprocess.run([gcc, *flags, "-o", str(tmp), str(source)], capture_output=True, text=True)
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise WorkbenchError(f"building {what} failed: gcc {' '.join(flags)}: "
                                 f"{(done.stderr.strip().splitlines() or [''])[-1][:200]}")
        os.replace(tmp, exe)
    return exe
