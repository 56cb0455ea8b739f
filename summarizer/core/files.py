"""Writing files so that nothing is lost or mixed: whole files atomically, never onto an input, appends
checked, one writer per output.

- `write_atomic` / `atomic_file`: a temporary file in the same folder (so the rename stays on one file
  system), flushed to disk, then `os.replace`: a reader, or a crash, sees the old file or the new one,
  never half of each.
- `refuse_inputs`: a command must not overwrite what it reads. Paths are compared after resolving
  symlinks and, when both exist, by inode (`samefile`), so `./a.jsonl`, a symlink to it or a hard link
  are all caught.
- `Appender`: one JSON line per `os.write`, on an O_APPEND descriptor; a short or failed write is undone
  (the file cut back to its last whole line) and raised, never left as a torn line.
- `OutputLock`: `fcntl.flock` on `<output>.lock`. The kernel drops the lock when the process dies (also on
  kill -9), so a stale lock file never blocks the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (either may not exist yet)."""
    with contextlib.suppress(OSError):
        if os.path.samefile(a, b):
            return True
    return Path(a).resolve() == Path(b).resolve()


def refuse_inputs(
    outputs: Iterable[tuple[str, Path | None]], inputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Raise ConfigError (exit 2) if an output is one of the inputs, or two outputs are one file.
    `outputs` are (option name, path) pairs; None entries are skipped."""
    named = [(what, path) for what, path in outputs if path is not None]
    sources = [Path(p) for p in inputs if p is not None]
    for what, path in named:
        for source in sources:
            if same_file(path, source):
                raise ConfigError(
                    f"{what} {path} is also an input of this command: refusing to overwrite it"
                    " (write to another file)"
                )
    for i, (what, path) in enumerate(named):
        for other, path2 in named[i + 1 :]:
            if same_file(path, path2):
                raise ConfigError(f"{what} and {other} are the same file ({path}): give each its own")


def _default_mode(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets what open() would give it (0666 - umask)."""
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o7777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, newline: str | None = None) -> Iterator[IO[str]]:
    """Open a temporary file beside `path`; when the block ends without an error, it replaces `path`.
    On an error the temporary file is removed and `path` is left as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, _default_mode(target))
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # else a crash right after the rename can leave an empty file
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename itself on disk; best effort (not every FS allows it)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_atomic(path: str | os.PathLike[str], text: str, *, what: str = "output") -> None:
    """Write `text` as the whole of `path`, atomically; an OSError becomes a one-line ConfigError."""
    try:
        with atomic_file(path) as f:
            f.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write {what} {path}: {exc.strerror or exc}") from exc


class Appender:
    """Appends one JSON object per line to `path`, each line in one `os.write` to an O_APPEND file.

    Every write is checked: a short write is continued, and a write that fails (disk full, quota) cuts the
    file back to where the line began before raising, so the file only ever holds whole lines. A line torn
    by a kill mid-write is cut off when the file is opened again."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        drop_torn_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        start = os.fstat(self._fd).st_size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                if written <= 0:
                    raise OSError(f"wrote {len(data) - len(view)} of {len(data)} bytes")
                view = view[written:]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise ConfigError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def drop_torn_tail(path: Path) -> None:
    """A line cut short by a kill mid-write would glue onto the next record: cut it off."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


class OutputLock:
    """An exclusive lock on `<output>.lock`, held while one process writes an output. A second process
    is refused at once (ConfigError) instead of waiting or interleaving its lines with the first's."""

    def __init__(self, output: Path):
        self.output = output
        self.path = output.with_name(output.name + ".lock")
        self._fd = -1

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                raise ConfigError(
                    f"another process (pid {holder}) is writing {self.output}: wait for it to end, or"
                    " write to another -o"
                ) from None
            # The holder before us may have removed the file between our open and our lock: then we hold
            # a lock on a file nobody else can see. Lock the file that is there now instead.
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still holding it: see acquire()
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
