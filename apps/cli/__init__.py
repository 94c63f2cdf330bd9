"""The ``opsmatch`` command line: each command is a thin shell over one stage's public function.

One module per command group (:mod:`.data`, :mod:`.models`, :mod:`.evaluation`, :mod:`.service`,
:mod:`.demo`), each registering its commands on the one application of :mod:`.base`.
"""

from apps.cli import data, demo, evaluation, models, service  # noqa: F401  (they register the commands)
from apps.cli.base import app

__all__ = ["app"]
