"""The engine and the real components behind the protocols: scorer, caches, replicas, launch."""
