"""A model's identity is what it is, not its name: other weights in a folder of the same name are another model."""

from __future__ import annotations

from hala.pipelines.serving.identity import model_identity


def _folder(path, weights: bytes):
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"model_type": "lfm2"}')
    (path / "model.safetensors").write_bytes(weights)
    return path


def test_local_folders_differ_by_their_weights_not_their_name(tmp_path):
    a = _folder(tmp_path / "a" / "model", b"\x01" * 5000)
    b = _folder(tmp_path / "b" / "model", b"\x02" * 5000)
    same = _folder(tmp_path / "c" / "model", b"\x01" * 5000)
    ida, idb = model_identity("transformers", str(a)), model_identity("transformers", str(b))
    assert ida != idb and ida.startswith("model@") and model_identity("vllm", str(same)) == ida


def test_endpoint_identity_is_name_and_revision():
    assert model_identity("endpoint", "served", "r2") == "served@r2"
    assert model_identity("endpoint", "served", None) == "served@unversioned"
