"""Atomic folder saves: a reader of a checkpoint sees the old one or the new one, never a mix of the two.

A save is written whole into a staging folder beside its destination (``.NAME.saving-PID-XXXX``). Files of the
destination that the save does not write (a Trainer's ``checkpoint-*`` folders, logs, your own notes) are hard-linked
into it (copied where the file system cannot link), except stale weight files in the folders the save writes. The
staging folder then takes the destination's place in one directory-entry swap (Linux ``renameat2(RENAME_EXCHANGE)``);
where the file system cannot swap, the old folder is renamed away and the new one renamed in, which leaves a moment
when the destination is missing (a reader then gets a :class:`CheckpointError`, never a mix). The old checkpoint is
deleted last. A save killed at any point leaves only ``.NAME.saving-*`` folders beside the destination; the next
save removes those whose process is gone, and loading a folder warns about them.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CheckpointError

logger = logging.getLogger(__name__)

#: weight files that a save replaces as a set: an old shard or index left beside new weights would mix checkpoints
WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def staging_prefix(destination: Path) -> str:
    """The name every staging folder of ``destination`` starts with."""
    return f".{destination.name}.saving-"


def interrupted_saves(destination: str | os.PathLike) -> list[Path]:
    """The staging folders an interrupted save left beside ``destination`` (oldest name first)."""
    destination = Path(destination).absolute()
    if not destination.parent.is_dir():
        return []
    return sorted(destination.parent.glob(f"{staging_prefix(destination)}*"))


def _owner_pid(staging: Path, destination: Path) -> int | None:
    """The process id written into a staging folder's name, None when the name holds none."""
    head = staging.name[len(staging_prefix(destination)) :].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else, or the platform cannot tell: assume alive
        return True
    return True


def remove_interrupted_saves(destination: Path) -> None:
    """Delete the staging folders of saves whose process has ended; report those of live processes."""
    for leftover in interrupted_saves(destination):
        pid = _owner_pid(leftover, destination)
        if pid is not None and _process_alive(pid):
            logger.warning("Leaving %s: process %d, which may be saving %s, still runs.", leftover, pid, destination)
            continue
        shutil.rmtree(leftover, ignore_errors=True)
        logger.warning("Removed %s, left by an interrupted save of %s.", leftover, destination)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directory entries in one step; False where the platform or the file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise CheckpointError(
        f"Cannot swap {first} into the place of {second}: {os.strerror(code)}. The previous checkpoint is unchanged; "
        "fix the folder's permissions and save again."
    )


def _keep_other_files(destination: Path, staging: Path, written: set[Path]) -> None:
    """Hard-link (or copy) into ``staging`` every entry of ``destination`` it lacks, except stale weight files in
    the folders the save wrote (``written``)."""
    for entry in sorted(destination.iterdir()):
        target = staging / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if not target.exists():
                os.mkdir(target)
                shutil.copymode(entry, target)
            if target.is_dir():
                _keep_other_files(entry, target, written)
        elif target.exists() or target.is_symlink():
            continue  # the save wrote a newer one
        elif staging in written and entry.name.endswith(WEIGHT_SUFFIXES):
            continue
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        else:
            try:
                os.link(entry, target)
            except OSError:
                shutil.copy2(entry, target)


def _new_staging(destination: Path) -> Path:
    """A fresh, empty staging folder beside ``destination``, created with the process's umask."""
    while True:
        staging = destination.with_name(f"{staging_prefix(destination)}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.mkdir(staging)
            return staging
        except FileExistsError:
            continue


def _move_into_place(staging: Path, destination: Path) -> None:
    """Put the complete ``staging`` folder at ``destination``; the old folder, if any, ends up at ``staging``."""
    if not destination.exists():
        os.rename(staging, destination)
        return
    if _exchange(staging, destination):
        return
    previous = staging.with_name(staging.name + "-previous")
    os.rename(destination, previous)
    os.rename(staging, destination)
    os.rename(previous, staging)


@contextmanager
def atomic_directory(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder; once the block succeeds, it replaces ``destination`` in one swap.

    Files in ``destination`` that the block does not write are kept (hard links, so nothing large is copied), except
    ``*.safetensors`` files and their index in the folders it writes. If the block fails, ``destination`` is left as
    it was and the staging folder removed.
    """
    destination = Path(destination).resolve()
    if destination.exists() and not destination.is_dir():
        raise CheckpointError(f"Cannot save to {destination}: it is a file. Give a folder path.")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        remove_interrupted_saves(destination)
        staging = _new_staging(destination)
    except OSError as error:
        raise CheckpointError(f"Cannot save to {destination}: {error}. Give a folder you can write to.") from error
    try:
        yield staging
        written = {path.parent for path in staging.rglob("*") if path.is_file()}
        if destination.is_dir():
            _keep_other_files(destination, staging, written)
            shutil.copymode(destination, staging)
        _move_into_place(staging, destination)
    except CheckpointError:
        raise
    except OSError as error:
        raise CheckpointError(
            f"Saving to {destination} failed: {error}. The previous checkpoint there (if any) is unchanged; free "
            "space or fix permissions and save again."
        ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
