"""dlcompare: re-run a published comparison of deep-learning libraries and regenerate its memoir.

The plugin API is this module's names and nothing deeper: ``hookimpl``, ``Trainer``, ``Run``,
``UserError``, ``PHASES``, ``ARCHS``, and the kit (``Ledger``, ``timed``, ``phase_lrs``,
``loss_and_accuracy``, ``versions``, ``peak_rss_mb``, ``package_schema``). See
docs/writing-a-plugin.md.
"""

__version__ = "0.1.0"

from dlcompare.errors import UserError  # noqa: E402
from dlcompare.glossary import ARCHS, PHASES  # noqa: E402
from dlcompare.host.contract import Run, Trainer  # noqa: E402
from dlcompare.host.hookspecs import hookimpl  # noqa: E402
from dlcompare.kit.ledger import Ledger, timed  # noqa: E402
from dlcompare.kit.measures import loss_and_accuracy, peak_rss_mb, versions  # noqa: E402
from dlcompare.kit.rates import phase_lrs  # noqa: E402
from dlcompare.params import package_schema  # noqa: E402

__all__ = ["ARCHS", "PHASES", "Ledger", "Run", "Trainer", "UserError", "__version__", "hookimpl",
           "loss_and_accuracy", "package_schema", "peak_rss_mb", "phase_lrs", "timed", "versions"]
