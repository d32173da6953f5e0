"""Hook specifications: the whole plugin API is one register-callback hook."""

from dlcompare.host.markers import hookspec


@hookspec
def dlcompare_register_trainers(register):
    """Register trainers by calling ``register(trainer)`` once per trainer.

    ``trainer`` is a :class:`dlcompare.host.contract.Trainer`: a ``name`` (the library's canonical
    name, e.g. ``torch``), the ``architectures`` it supports (canonical names from
    :mod:`dlcompare.glossary`) and a ``train(run)`` method that writes the run artifacts.
    """
