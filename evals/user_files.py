"""Files people hand Quorum, and files it writes for them: one place for the checks.

Every file a command reads goes through :func:`read_text` and every file it writes
through :func:`write_text` / :func:`write_bytes`, so a directory, a missing file, a
binary or non-UTF-8 file, a file too large, or an output path that cannot be written
comes out as one :class:`~evals.errors.InputError` sentence instead of a traceback.

The size limits keep one bad record from stalling a run: a recorded answer of 8 million
characters used to take minutes to chunk and embed. They are far above anything a
model or a person writes in practice.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from evals.errors import InputError

#: The largest file a command reads (the dev panels are 8 MB).
MAX_FILE_BYTES = 256 * 1024 * 1024
#: The longest recorded answer (about 50,000 tokens).
MAX_ANSWER_CHARS = 200_000
#: The longest question or expected answer of an eval case.
MAX_CASE_TEXT_CHARS = 20_000
#: The longest conversation context of an eval case, all messages together.
MAX_CASE_CONTEXT_CHARS = 100_000

_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:,.1f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def _fixed(name: str) -> str:
    return "fixed" + (Path(name).suffix or ".txt")


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as text; a UTF-8 byte-order mark is dropped. Anything that is not UTF-8
    text raises InputError saying what it looks like and how to fix it."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise InputError(
                f"{name}: the file is {encoding} text; Quorum reads UTF-8. "
                f"Convert it, e.g. `iconv -f {encoding} -t UTF-8 {name} > {_fixed(name)}`."
            )
    if b"\x00" in data[:8192]:
        raise InputError(f"{name}: this is a binary file, not UTF-8 text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}; "
            "Latin-1 or Windows-1252?). Save it as UTF-8, e.g. "
            f"`iconv -f latin1 -t UTF-8 {name} > {_fixed(name)}`."
        ) from None


def read_text(path: Path | str, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of ``path`` ('-': standard input), or InputError saying why not."""
    name = str(path)
    if name == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
    else:
        p = Path(path)
        try:
            if p.is_dir():
                raise InputError(f"{name} is a folder; name a file.")
            size = p.stat().st_size
            if size > max_bytes:
                raise InputError(f"{name} is {_size(size)}; the limit is {_size(max_bytes)}.")
            data = p.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{name}: no such file.") from None
        except OSError as exc:
            raise InputError(f"{name}: cannot read it ({exc.strerror or exc}).") from None
    if len(data) > max_bytes:
        raise InputError(f"{name} is over the limit of {_size(max_bytes)}.")
    return decode_utf8(data, name)


def check_writable(path: Path) -> None:
    """Fail early (InputError) when ``path`` cannot become a file: a folder, or a parent
    folder that cannot be created. Missing parent folders are created."""
    if path.is_dir():
        raise InputError(f"{path} is a folder; name a file to write.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write {path}: {parent} is a file, not a folder.")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the folder {path.parent} for {path.name} ({exc.strerror or exc})."
        ) from None


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: missing folders are created, the
    bytes go to a temporary file beside it that replaces ``path`` only once complete,
    and a path that cannot be written raises InputError. An existing file is never
    left half-written."""
    p = Path(path)
    check_writable(p)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise InputError(f"cannot write {p} ({exc.strerror or exc}).") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    """:func:`write_bytes` for UTF-8 text; '-' writes to standard output."""
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_bytes(path, text.encode("utf-8"))


def check_length(text: str, *, what: str, limit: int) -> None:
    """InputError when ``text`` is longer than ``limit`` characters."""
    if len(text) > limit:
        raise InputError(f"{what} is {len(text):,} characters long; the limit is {limit:,}.")
