"""Feast feature store of opsmatch: definitions, the event-log -> feature-table pipeline, training frames
and the in-memory worker profile cache for serving. See features/README.md."""
