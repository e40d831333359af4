"""Per-user directories of the engine: re-exported from `nst_engine.contract`, where they are defined once.

Kept so that `from nst_engine import paths` keeps working for the CLI, weights and download code.
"""

from __future__ import annotations

from nst_engine.contract import APP, cache_dir, data_dir, lock_file, make_private_dir, state_file, weights_dir

__all__ = ["APP", "cache_dir", "data_dir", "lock_file", "make_private_dir", "state_file", "weights_dir"]
