"""The one rule for the files llmreg's CLI reads and writes: regular files only.

A write never replaces, follows or fills anything but a regular file: a symbolic
link, a FIFO, a device, a socket or a folder at the target is refused with a
:class:`~llmreg.errors.ConfigError` naming it, before anything is written (and
before any row is sent). An input that is not a regular file gets an error saying
what it is, rather than "does not exist" or a read that never ends.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import IO

from llmreg.errors import ConfigError, ConfigFileNotFoundError

#: Opened without following a symbolic link and without waiting for a FIFO's reader.
_SAFE_OPEN = 0 if sys.platform == "win32" else os.O_NOFOLLOW | os.O_NONBLOCK


def file_kind(mode: int) -> str:
    """Name the kind of file ``mode`` (an ``st_mode``) is, such as ``"a FIFO (named pipe)"``.

    Example:
        >>> import stat
        >>> file_kind(stat.S_IFCHR)
        'a character device'
    """
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def check_write_target(path: Path) -> None:
    """Refuse ``path`` unless it is missing or a regular file (checked with ``lstat``).

    Raises:
        ConfigError: ``path`` is a symbolic link, FIFO, device, socket or folder
            (named, with what it is), or its parent is not a folder.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise ConfigError(f"cannot write {path}: {path.parent} is not a folder") from None
    if stat.S_ISREG(mode):
        return
    raise ConfigError(
        f"cannot write {path}: it is {file_kind(mode)}, and llmreg writes only regular files "
        "(it never replaces or writes through anything else): give the path of a regular "
        "file, or of a new one"
    )


def open_for_write(path: Path, *, append: bool) -> IO[str]:
    """Open ``path`` as UTF-8 text for writing (``append`` or truncate), a regular file only.

    The check is repeated on the open file itself, so a FIFO, device or symbolic link
    put there after :func:`check_write_target` is refused, never written to.

    Raises:
        ConfigError: as :func:`check_write_target`.
        OSError: the file cannot be opened.
    """
    check_write_target(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags | _SAFE_OPEN, 0o666)
    except OSError:
        check_write_target(path)  # named as what it became (a link or a FIFO), if it did
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"cannot write {path}: it is {file_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return open(fd, "a" if append else "w", encoding="utf-8")


def check_input_file(path: str | os.PathLike[str], what: str, give: str) -> Path:
    """Check that ``path`` (``what``: such as ``"prompts file"``) is a regular file to read.

    A symbolic link to a regular file is read. ``give`` says what to give instead,
    such as ``"a JSON Lines file"``.

    Raises:
        ConfigFileNotFoundError: nothing is there (or a symbolic link leads nowhere).
        ConfigError: it is a folder, a FIFO, a device or a socket (named), or it cannot
            be looked at.
    """
    shown = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        dangling = os.path.lexists(path)
        where = " (a symbolic link to nothing)" if dangling else ""
        raise ConfigFileNotFoundError(
            f"{what} {shown} does not exist{where}: check the path"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{what} {shown} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{what} {shown} is a folder: give {give}")
    if not stat.S_ISREG(mode):
        raise ConfigError(
            f"{what} {shown} is {file_kind(mode)}, not a regular file: give {give} "
            "(llmreg reads regular files only, not pipes, devices or standard input)"
        )
    return Path(path)


__all__ = ["check_input_file", "check_write_target", "file_kind", "open_for_write"]
