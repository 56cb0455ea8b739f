"""summarizer.core.files: atomic writes, refusing to write onto an input, checked appends, the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from summarizer.core.errors import ConfigError
from summarizer.core.files import Appender, OutputLock, atomic_file, refuse_inputs, same_file, write_atomic


def test_write_atomic_replaces_the_whole_file_and_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old")
    path.chmod(0o640)
    write_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left


def test_a_new_file_gets_the_umask_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.json", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o644


def test_an_error_while_writing_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("precious")
    with pytest.raises(RuntimeError), atomic_file(path) as f:
        f.write("half of the new")
        raise RuntimeError("the writer failed midway")
    assert path.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_write_failure_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"^cannot write --output .*file/out\.json: "):
        write_atomic(tmp_path / "file" / "out.json", "x", what="--output")


def test_same_file_sees_through_spellings_symlinks_and_hard_links(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "in.jsonl"
    real.write_text("{}\n")
    (tmp_path / "link.jsonl").symlink_to(real)
    os.link(real, tmp_path / "hard.jsonl")
    assert same_file("in.jsonl", real)
    assert same_file("./sub/../in.jsonl", real)
    assert same_file(tmp_path / "link.jsonl", real)
    assert same_file(tmp_path / "hard.jsonl", real)
    assert not same_file(tmp_path / "other.jsonl", real)  # does not exist yet
    assert same_file(tmp_path / "not-yet.json", "not-yet.json")


def test_refuse_inputs(tmp_path: Path) -> None:
    source = tmp_path / "res.jsonl"
    source.write_text("{}\n")
    with pytest.raises(ConfigError, match=r"^--plover .*res\.jsonl is also an input of this command"):
        refuse_inputs([("--output", None), ("--plover", source)], [str(tmp_path / "x.jsonl"), source])
    with pytest.raises(ConfigError, match="--output and --plover are the same file"):
        refuse_inputs([("--output", tmp_path / "a"), ("--plover", tmp_path / "a")], [])
    refuse_inputs([("--output", tmp_path / "a"), ("--plover", tmp_path / "b")], [source, None])


def test_appender_writes_whole_lines_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "b", "analy')  # a kill -9 in the middle of a line
    out = Appender(path)
    out.write({"id": "c", "text": "é"})
    out.close()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "c"]


def test_appender_continues_a_short_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.jsonl"
    out = Appender(path)
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:5])))  # 5 bytes a call
    out.write({"id": "a", "x": "long enough to need several writes"})
    out.close()
    assert json.loads(path.read_text()) == {"id": "a", "x": "long enough to need several writes"}


def test_appender_undoes_a_failed_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.jsonl"
    out = Appender(path)
    out.write({"id": "a"})
    real_write = os.write
    calls = {"n": 0}

    def disk_fills(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:4]))  # part of the line reaches the file...
        raise OSError(28, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(os, "write", disk_fills)
    with pytest.raises(ConfigError, match=r"^cannot write .*r\.jsonl: No space left on device$"):
        out.write({"id": "b"})
    monkeypatch.undo()
    out.close()
    assert path.read_text() == '{"id": "a"}\n'  # the torn start of "b" was cut back


def test_a_second_lock_on_one_output_is_refused(tmp_path: Path) -> None:
    output = tmp_path / "r.jsonl"
    refused = pytest.raises(ConfigError, match=rf"another process \(pid {os.getpid()}\) is writing")
    with OutputLock(output), refused:
        OutputLock(output).acquire()
    assert not (tmp_path / "r.jsonl.lock").exists()  # released and removed
    with OutputLock(output):  # free again
        pass


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    output = tmp_path / "r.jsonl"
    holder = (
        "import sys, time; from pathlib import Path; from summarizer.core.files import OutputLock;"
        "OutputLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", holder, str(output)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        with pytest.raises(ConfigError, match=rf"pid {child.pid}"):
            OutputLock(output).acquire()
    finally:
        child.kill()  # kill -9: no chance to release or remove the lock file
        child.wait()
    assert (tmp_path / "r.jsonl.lock").exists()
    with OutputLock(output):  # the kernel dropped the dead process's lock
        pass
