"""dlcompare: re-run a published comparison of deep-learning libraries and regenerate its memoir."""

__version__ = "0.1.0"

from dlcompare.host.markers import hookimpl  # noqa: E402  (plugins write ``@dlcompare.hookimpl``)

__all__ = ["hookimpl", "__version__"]
