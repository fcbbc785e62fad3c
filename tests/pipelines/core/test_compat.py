"""hala.pipelines.core.compat uses private internals of datatrove and fastText: this fails loudly, naming what
changed, the moment an installed release is not the one they were written against or an attribute is gone."""

from __future__ import annotations

import dataclasses
import inspect
from importlib.metadata import version

import pytest

from hala.pipelines.core import compat


@pytest.mark.parametrize("package", sorted(compat.INTERNALS_VERSIONS))
def test_installed_release_is_the_one_the_internals_were_written_for(package):
    assert version(package) == compat.INTERNALS_VERSIONS[package], (
        f"{package} {version(package)} is installed; hala.pipelines.core.compat was written against "
        f"{compat.INTERNALS_VERSIONS[package]}: re-check every use listed in its docstring, then update the pin")


def test_every_private_attribute_used_still_exists():
    import datatrove.executor.base as executor_base
    import datatrove.utils.logging as dt_logging
    from datatrove.pipeline.inference.run_inference import InferenceRunner
    from datatrove.pipeline.inference.servers import InferenceServer, VLLMServer
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.stats import MetricStats
    from fasttext.FastText import _FastText  # noqa: F401

    assert callable(dt_logging.add_task_logger) and callable(dt_logging.setup_default_logger)
    assert executor_base.add_task_logger is dt_logging.add_task_logger or getattr(dt_logging, "_hala_quiet", False)
    assert {f.name for f in dataclasses.fields(MetricStats)} >= {"total", "n", "mean", "min", "max",
                                                                 "_running_variance"}
    for name in ("_get_output_filename", "_get_filename_with_file_id", "_on_file_switch",
                 "_get_output_file_with_retry", "_write_batch", "_write"):
        assert callable(getattr(ParquetWriter, name)), name
    writer = ParquetWriter("/tmp/hala-compat-check", output_filename="${rank}.parquet")
    for name in ("file_id_counter", "output_mg", "_writers", "_batches", "max_file_size", "batch_size"):
        assert hasattr(writer, name), name
    assert list(inspect.signature(InferenceServer.__init__).parameters) == ["self", "config", "rank"]
    assert inspect.iscoroutinefunction(VLLMServer._start_vllm_task)
    assert callable(InferenceRunner._init_server)
    for name in ("_make_request", "_wait_until_ready"):  # overridden by hala.pipelines.serving.servers
        assert inspect.iscoroutinefunction(getattr(InferenceServer, name)), name
    assert list(inspect.signature(InferenceServer._make_request).parameters) == ["self", "payload"]
    assert callable(InferenceServer._get_log_file_path)


def test_inference_checkpoint_and_reader_internals_still_exist(tmp_path):
    """What `ChunkCheckpoints` and `read_ahead` rely on (datatrove's CheckpointManager and the runner's reader hook)."""
    from datatrove.pipeline.inference.checkpointing import CheckpointManager
    from datatrove.pipeline.inference.run_inference import InferenceRunner

    manager = CheckpointManager(str(tmp_path / "ckpt"), 7)
    for name in ("checkpoints_local_dir", "records_per_chunk", "request_cache", "per_chunk_counts",
                 "new_completed_chunks", "file_locks"):
        assert hasattr(manager, name), name
    for name in ("write_document", "update_last_chunk_index", "cleanup_last_chunk"):
        assert inspect.iscoroutinefunction(getattr(CheckpointManager, name)), name
    assert list(inspect.signature(CheckpointManager.write_document).parameters) == [
        "self", "document", "rank", "chunk_index", "output_writer_context"]
    assert list(inspect.signature(InferenceRunner._async_data_gen).parameters) == ["self", "sync_gen"]
    assert compat.ChunkCheckpoints.like(manager).records_per_chunk == 7
    # hala.pipelines.serving.servers.AnnouncedStart._poll_fast reads the server process datatrove keeps
    from datatrove.pipeline.inference.servers import InferenceServer

    assert "self._server_process" in inspect.getsource(InferenceServer.__init__)
