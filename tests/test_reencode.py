"""The embedded model's weights written again as Q8_0: the same numbers, within half an 8-bit step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")  # the `local` extra's; CI installs it
from gguf import quants  # noqa: E402

from summarizer.model.reencode import reencode, reencoded_name  # noqa: E402
from summarizer.model.weights import model_path  # noqa: E402

Q4_1, Q8_0 = gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q8_0


def _values(path: Path) -> dict[str, tuple[object, np.ndarray]]:
    reader = gguf.GGUFReader(path, "r")
    return {t.name: (t.tensor_type, quants.dequantize(t.data, t.tensor_type)) for t in reader.tensors}


def _check_same_numbers(source: Path, target: Path) -> None:
    before, after = _values(source), _values(target)
    assert before.keys() == after.keys()
    for name, (kind, values) in before.items():
        new_kind, new_values = after[name]
        assert new_values.shape == values.shape, name
        if kind != Q4_1:
            assert new_kind == kind and np.array_equal(new_values, values), name
            continue
        assert new_kind == Q8_0, name
        # Q8_0 keeps each block of 32 on a grid of max|x|/127: no value moves more than half a step, and
        # the step's own 16-bit rounding (up to 127 * 2**-11 of a step at the block's largest value).
        blocks = values.reshape(-1, 32)
        moved = np.abs(new_values.reshape(-1, 32) - blocks)
        step = np.abs(blocks).max(axis=1, keepdims=True) / 127
        assert (moved <= step * (0.5 + 127 * 2**-11) + 1e-7).all(), name
        # Measured on the embedded model: at most 5.1 % of the block's Q4_1 step (1.6 % on average).
        q4_1_step = (blocks.max(axis=1, keepdims=True) - blocks.min(axis=1, keepdims=True)) / 15
        assert (moved <= q4_1_step * 0.06 + 1e-7).all(), name


def test_the_name_says_the_new_encoding() -> None:
    assert reencoded_name(Path("SmolLM2-135M-Instruct.Q4_1.gguf")) == "SmolLM2-135M-Instruct.Q8_0.gguf"
    assert reencoded_name(Path("model.gguf")) == "model.Q8_0.gguf"


def test_a_small_file_keeps_its_metadata_and_its_numbers(tmp_path: Path) -> None:
    source, target = tmp_path / "tiny.Q4_1.gguf", tmp_path / "out" / "tiny.Q8_0.gguf"
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(source, arch="llama")
    writer.add_name("tiny")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1)
    writer.add_tensor("w", quants.quantize(rng.normal(size=(4, 64)).astype(np.float32), Q4_1), raw_dtype=Q4_1)
    writer.add_tensor("norm", rng.normal(size=64).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    assert reencode(source, target) == target
    _check_same_numbers(source, target)
    fields = gguf.GGUFReader(target, "r").fields
    assert fields["general.name"].contents() == "tiny"
    assert fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q8_0
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no partial file left
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_file_that_is_no_model_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    source, target = tmp_path / "junk.gguf", tmp_path / "out" / "junk.Q8_0.gguf"
    source.write_bytes(b"not a gguf file at all")
    with pytest.raises(ValueError):
        reencode(source, target)
    assert not target.exists() and (not target.parent.exists() or list(target.parent.iterdir()) == [])


@pytest.mark.live
def test_the_embedded_models_weights_keep_their_numbers(tmp_path: Path) -> None:
    source = model_path()
    target = reencode(source, tmp_path / reencoded_name(source))
    _check_same_numbers(source, target)


def test_partial_files_of_killed_runs_are_removed_once_old(tmp_path: Path) -> None:
    import os
    import time

    from summarizer.model.reencode import _remove_stale

    old, fresh = tmp_path / ".reencode-a.part", tmp_path / ".reencode-b.part"
    for path in (old, fresh):
        path.write_bytes(b"half a model")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    _remove_stale(tmp_path)
    assert not old.exists() and fresh.exists()  # another run may be writing the fresh one now
