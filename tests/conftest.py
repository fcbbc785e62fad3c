"""Shared fixtures: everything a test needs is built here, offline, on the spot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.helpers import REPO


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny LFM2 translator (tokenizer trained here, model from a config, seconds of warm-up)."""
    from hala.pipelines.serving.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-lfm2")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
