"""Compiled trees: a champion's LightGBM forest as a native shared library (lleaves: the model text ->
LLVM -> an object for generic x86-64, linked by the system's C compiler), the booster's predictions
within float rounding at a fraction of its per-call cost.

The compile runs in a child process (``python -m serving.runtime.compiled MODEL_TXT LIB``): LLVM and
its memory never enter the service, which loads the library with ``ctypes`` (the call releases the GIL,
as LightGBM's does). Libraries are cached under ``cache_dir`` by the model text and lleaves' version, so
a restart, or another worker of the same service, loads instead of compiling.

:func:`compile_model` returns a :class:`CompiledModel` that predicts like the ServingModel it wraps
(same encoder, calibrator, contributions and version), or ``None`` and the caller keeps the booster:
lleaves or a C compiler missing, the compile failed or timed out, or the library's raw output on a probe
matrix (rows on both sides of every split of the forest, category codes and missing values included)
differs from LightGBM's own by more than :data:`TOLERANCE` (the trees are summed in another order, so
only a tolerance is machine-independent).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("opsmatch.serving")
TOLERANCE = 1e-9  # max |compiled - LightGBM| of the raw output (probability or minutes) on the probe
PROBE_ROWS = 512
COMPILE_TIMEOUT = 900.0  # seconds for one forest (a 500-tree forest takes ~10 s of CPU)
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


def probe_matrix(booster: Any, rows: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Rows whose values sit on both sides of the forest's numeric thresholds, on its category codes
    (and an unseen one), and missing (NaN) at random; deterministic for ``seed``."""
    dump = booster.dump_model()
    values: list[list[float]] = [[] for _ in range(int(dump["max_feature_idx"]) + 1)]
    stack = [t["tree_structure"] for t in dump["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        f, thr = int(node["split_feature"]), node["threshold"]
        if node.get("decision_type") == "==":
            values[f] += [float(c) for c in str(thr).split("||")] + [-1.0]
        else:
            values[f] += [float(thr) - 1e-6, float(thr) + 1e-6]
        stack += [node["left_child"], node["right_child"]]
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.choice(np.array(seen or [0.0]), size=rows) for seen in values])
    X[rng.random(X.shape) < 0.1] = np.nan
    return X


class Forest:
    """A compiled forest's shared library: ``predict(X)`` = the booster's ``predict`` (raw scale)."""

    def __init__(self, library: Path) -> None:
        self.library = ctypes.CDLL(str(library))
        self._root = self.library.forest_root
        self._root.restype = None
        self._root.argtypes = [_DOUBLE_P, _DOUBLE_P, ctypes.c_int32, ctypes.c_int32]

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros(len(X))
        if len(X):
            self._root(X.ctypes.data_as(_DOUBLE_P), out.ctypes.data_as(_DOUBLE_P), 0, len(X))
        return out


class CompiledModel:
    """``model`` (a ServingModel) whose ``predict`` runs the compiled forest; everything else is its own."""

    def __init__(self, model: Any, forest: Forest) -> None:
        self.model = model
        self.forest = forest

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def predict_raw(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        pred = self.forest.predict(X)
        return np.exp(pred) if self.model.meta.get("target_transform") == "log" else pred

    def predict(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        return np.asarray(self.model.calibrator.apply(self.predict_raw(X, num_threads)))


def build(model_txt: Path, library: Path) -> None:
    """Compile ``model_txt`` into the shared library ``library`` (run in a child process)."""
    import lleaves

    obj = library.with_suffix(".o")
    lleaves.Model(model_file=str(model_txt)).compile(
        cache=str(obj), finline=False, target_cpu="x86-64", target_cpu_features=""
    )
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-shared", "-o", str(library), str(obj), "-lm"], check=True, capture_output=True)
    obj.unlink()


def library_for(model: Any, cache_dir: Path, timeout: float = COMPILE_TIMEOUT) -> Path:
    """The cached library of ``model``'s forest, compiled now in a child process when missing."""
    text = model.booster.model_to_string()
    key = hashlib.sha256(f"{metadata.version('lleaves')}|{text}".encode()).hexdigest()[:24]
    library = cache_dir / f"forest-{key}.so"
    if library.exists():
        return library
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        src, part = Path(tmp) / "model.txt", Path(tmp) / "forest.so"
        src.write_text(text)
        cmd = [sys.executable, "-m", "serving.runtime.compiled", str(src), str(part)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
        os.replace(part, library)  # whole or absent: another worker never loads half a file
    return library


def compile_model(model: Any, cache_dir: Path) -> CompiledModel | None:
    """The compiled form of ``model`` (see the module docstring), or None to keep LightGBM's."""
    try:
        metadata.version("lleaves")
        library = library_for(model, cache_dir)
        out = CompiledModel(model, Forest(library))
        X = probe_matrix(model.booster)
        gap = float(np.max(np.abs(out.predict_raw(X) - model.predict_raw(X)), initial=0.0))
        if not gap <= TOLERANCE:
            log.warning("compiled %s differs from LightGBM by %.3g: LightGBM kept", model.model, gap)
            library.unlink(missing_ok=True)
            return None
        return out
    except Exception as exc:  # noqa: BLE001 - any failure keeps the booster, which always works
        log.warning(
            "%s not compiled, LightGBM kept: %s: %s", getattr(model, "model", "?"), type(exc).__name__, exc
        )
        return None


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
