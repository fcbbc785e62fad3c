"""Test helpers: the Hub test server, dataset builders, local clusters."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
