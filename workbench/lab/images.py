"""Guest images from Debian packages, built by the workbench itself.

An image is an initramfs (a ``newc`` cpio archive, written here: no ``cpio`` or
``mkinitramfs`` involved) holding one static workload binary, its arguments and
an ``/init`` (``init.c``, built static with gcc) that mounts ``/proc``, prints a
start marker, runs the workload, prints its exit status and powers the guest off
(QEMU exits through ACPI, User-mode Linux halts). The same image
boots under QEMU (with a Debian kernel from ``linux-image-amd64``) and under
User-mode Linux (``linux.uml`` from ``user-mode-linux``).

Images are cached under :func:`cache_folder`, named by a hash of everything that
goes in (the init, the workload binary, its arguments, this format's version): a
changed input gives a new image, an unchanged one is reused.
The guest gets no access to the host's files: nothing is shared into it (no 9p,
no hostfs mount; see :mod:`workbench.lab.environments` for how UML's hostfs is
fenced off).
"""
from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path
from typing import Sequence

from ..errors import WorkbenchError
from ..storage import atomic_write

FORMAT_VERSION = 1
HERE = Path(__file__).resolve().parent
INIT_SOURCE = HERE / "init.c"
UML_SHIM_SOURCE = HERE / "uml_xstate.c"
#: Lines the image's /init prints around the workload (``init.c``); the boot looks for them.
STARTED = "workbench-lab: init started"
EXIT_STATUS = "workbench-lab: workload exit status"


def cache_folder() -> Path:
    """Where images are kept: ``$XDG_CACHE_HOME/workbench/lab`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "workbench" / "lab"


def initramfs(workload: str | os.PathLike, args: Sequence[str] = (), *,
              folder: str | os.PathLike | None = None) -> Path:
    """The initramfs running the static binary `workload` with `args`: built when missing.

    Raises
    ------
    WorkbenchError
        The workload is missing, unreadable or not a static x86-64 executable; an
        argument holds a NUL; gcc cannot build the init.
    """
    folder = Path(folder) if folder is not None else cache_folder()
    workload = Path(workload)
    wl = _static_executable(workload, "the workload")
    if any("\0" in a for a in args) or len(args) > 64:
        raise WorkbenchError(f"the workload's arguments must be at most 64, without NUL, found {list(args)!r}")
    packed = b"".join(a.encode() + b"\0" for a in args)
    if len(packed) > 8000:
        raise WorkbenchError(f"the workload's arguments take {len(packed)} bytes, at most 8000 fit")
    init = _static_executable(build(INIT_SOURCE, ("-static", "-O2"), folder, "init"), "the lab's init")
    digest = hashlib.sha256()
    for part in (str(FORMAT_VERSION).encode(), init, wl, packed):
        digest.update(hashlib.sha256(part).digest())
    image = folder / f"initramfs-{digest.hexdigest()[:16]}.cpio"
    if image.is_file():
        return image
    archive = _Cpio()
    for name in ("bin", "dev", "etc", "proc", "sys", "tmp"):
        archive.add(name, stat.S_IFDIR | 0o755)
    # The console must exist before /init runs: the kernel opens it for init's stdio.
    archive.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    archive.add("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3))
    archive.add("init", stat.S_IFREG | 0o755, init)
    archive.add("bin/workload", stat.S_IFREG | 0o755, wl)
    archive.add("etc/workload-args", stat.S_IFREG | 0o644, packed)
    return atomic_write(image, archive.finish())


def uml_shim(folder: str | os.PathLike | None = None) -> Path:
    """The LD_PRELOAD shim that lets Debian 12's User-mode Linux start processes on hosts
    whose XSAVE area is larger than AVX's (AVX-512, PKRU, AMX): see ``uml_xstate.c``."""
    return build(UML_SHIM_SOURCE, ("-shared", "-fPIC", "-O2"), Path(folder) if folder else cache_folder(),
                 "uml-xstate", suffix=".so", libs=("-ldl",))


def build(source: Path, flags: Sequence[str], folder: Path, stem: str, *, suffix: str = "",
          libs: Sequence[str] = ()) -> Path:
    """Compile `source` with gcc into `folder` (named by a hash of source and flags; once).

    Raises
    ------
    WorkbenchError
        gcc is missing or the build fails.
    """
    import shutil
    import subprocess

    gcc = shutil.which("gcc")
    if gcc is None:
        raise WorkbenchError(f"the lab builds {source.name} with gcc, which is missing (apt-get install gcc "
                             "libc6-dev)")
    digest = hashlib.sha256(source.read_bytes() + " ".join([*flags, *libs]).encode()).hexdigest()[:16]
    out = folder / f"{stem}-{digest}{suffix}"
    if out.is_file():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{out.name}.{os.getpid()}.tmp"
    try:
        done = subprocess.run([gcc, *flags, "-o", str(tmp), str(source), *libs], capture_output=True, text=True)
        if done.returncode != 0:
            raise WorkbenchError(f"building {source.name} failed: gcc {' '.join(flags)}: "
                                 f"{(done.stderr.strip().splitlines() or [''])[-1][:200]}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _static_executable(path: Path, what: str) -> bytes:
    """The bytes of `path`, checked to be a static x86-64 ELF executable (a dynamic one
    cannot start in an initramfs that has no libc: the kernel would panic with a
    message far from the cause)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: {what} is missing") from None
    except OSError as exc:
        raise WorkbenchError(f"{path}: cannot read {what} ({exc.strerror})") from None
    reason = _not_static(data)
    if reason:
        raise WorkbenchError(f"{path}: {what} must be a static x86-64 executable; {reason}")
    return data


def _not_static(data: bytes) -> str | None:
    if data[:4] != b"\x7fELF":
        return f"it starts with {data[:4]!r}, not an ELF header"
    if data[4] != 2 or data[5] != 1:
        return "it is not a 64-bit little-endian ELF file"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_machine != 62:
        return f"it is built for ELF machine {e_machine}, not x86-64 (62)"
    if e_type not in (2, 3):
        return f"its ELF type is {e_type}, not an executable"
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    if phoff + phentsize * phnum > len(data) or phentsize < 4:
        return "its program headers lie outside the file"
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP: needs a dynamic loader
            return "it is dynamically linked (it names a program interpreter)"
    return None


class _Cpio:
    """A ``newc`` ("070701") cpio archive as the kernel's initramfs unpacker reads it
    (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII
    header, the name with its NUL padded to 4 bytes, the data padded to 4 bytes.
    Owner root, time 0: the same inputs give the same bytes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        fields = (self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0)
        self.ino += 1
        self._entry(fields, name, data)

    def _entry(self, fields: tuple[int, ...], name: str, data: bytes) -> None:
        header = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
        self.parts += [header, b"\0" * (-len(header) % 4), data, b"\0" * (-len(data) % 4)]

    def finish(self) -> bytes:
        self._entry((0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, len("TRAILER!!!") + 1, 0), "TRAILER!!!", b"")
        return b"".join(self.parts)
