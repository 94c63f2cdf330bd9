"""End-to-end tests of the closed loop: twin history -> features -> models -> service -> outcomes -> retrain.

Each test builds its own throw-away world (``tests.factories.loop_world.make_world``): data dir,
MLflow store, server.
LightGBM runs in this process and in the child processes: keep idle OpenMP threads from spinning.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
