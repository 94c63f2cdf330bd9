"""``python -m apps ...`` is the ``opsmatch`` command (used by the demo supervisor for its children)."""

from apps.cli import app

app(prog_name="opsmatch")
