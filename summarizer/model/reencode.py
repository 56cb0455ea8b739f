"""The embedded model's weights written again as Q8_0, once, so that llama.cpp evaluates prompts faster.

SmolLM2-135M-Instruct is published as Q4_1: llama.cpp's CPU backend evaluated the seed's prompts at about 280
tokens/s with it, and at about 430 with the same weights as Q8_0 (`bench/bench_engine.py --encoding-probe`,
bench/README.md). Nothing is rounded coarser: each Q4_1 value (`d * q + m`, q in 0..15, 32 to a block) is
stored again with 8-bit steps of `max|x| / 127`, within half a step, a few per cent of one Q4_1 step
(`tests/test_reencode.py` measures it). Q4_0 would be a little faster still, but would round every weight a
second time, onto a 16-level grid that the Q4_1 values do not lie on.

`gguf` is llama.cpp's own reader and writer of the format (pure Python over numpy); the file it writes is
checked before it replaces anything.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

TARGET = "Q8_0"


def reencoded_name(source: Path) -> str:
    """`SmolLM2-135M-Instruct.Q4_1.gguf` -> `SmolLM2-135M-Instruct.Q8_0.gguf`."""
    stem = source.name.removesuffix(".gguf")
    base, dot, _encoding = stem.rpartition(".")
    return f"{base if dot else stem}.{TARGET}.gguf"


def reencode(source: Path, target: Path) -> Path:
    """Write `source`'s Q4_1 tensors as Q8_0 (every other tensor and all metadata as they are) to
    `target`, atomically: a reader sees the whole file or none."""
    import gguf  # the `local` extra's; imported here so that the rest of the package works without it
    from gguf import quants

    q4_1, q8_0 = gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q8_0
    reader = gguf.GGUFReader(source, "r")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target.parent)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".reencode-", suffix=".part")
    os.close(fd)
    partial = Path(name)
    try:
        architecture = reader.get_field(gguf.Keys.General.ARCHITECTURE)
        if architecture is None:
            raise ValueError(f"{source} names no architecture: not a model file")
        writer = gguf.GGUFWriter(partial, arch=architecture.contents(), endianess=reader.endianess)
        for field in reader.fields.values():
            # The writer adds the architecture and the file's own `GGUF.*` fields itself.
            if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
                continue
            value_type = field.types[0]
            sub = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
            value = field.contents()
            if field.name == gguf.Keys.General.FILE_TYPE:
                value = gguf.LlamaFileType.MOSTLY_Q8_0
            writer.add_key_value(field.name, value, value_type, sub_type=sub)
        tensors = []
        for tensor in reader.tensors:
            data, kind = tensor.data, tensor.tensor_type
            if kind == q4_1:
                data, kind = quants.quantize(quants.dequantize(data, q4_1), q8_0), q8_0
            tensors.append(data)
            writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for data in tensors:
            writer.write_tensor_data(data)
        writer.close()
        if len(gguf.GGUFReader(partial, "r").tensors) != len(reader.tensors):
            raise ValueError("the re-encoded file lost tensors")
        partial.chmod(0o644)  # mkstemp's file is private; the published one was not
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _remove_stale(directory: Path, age: float = 3600.0) -> None:
    """Partial files of runs killed while they wrote (an interrupt ends the process without cleaning up)."""
    now = time.time()
    for partial in directory.glob(".reencode-*.part"):
        with contextlib.suppress(OSError):
            if now - partial.stat().st_mtime > age:
                partial.unlink()
