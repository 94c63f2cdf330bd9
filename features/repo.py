"""Feast CLI entry point: the only module ``feast apply`` imports from this folder (see .feastignore).

Usage: ``OPSMATCH_DATA_DIR=$PWD/data feast -c features apply`` (committed ``feature_store.yaml``, paths
from the environment; add ``-f features/feature_store.redis.yaml`` for Redis). Programs call
``features.store.apply_repo(settings)`` instead. Building the definitions only constructs objects
(no I/O); Feast's CLI contract requires them at module level.
"""

from __future__ import annotations

from features.definitions import build_definitions
from opsmatch.settings import get_settings

_definitions = build_definitions(get_settings().feature_data_dir)
globals().update({f"{type(obj).__name__.lower()}__{obj.name}": obj for obj in _definitions.objects()})
