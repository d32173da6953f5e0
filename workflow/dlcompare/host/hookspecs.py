"""The plugin API's pluggy markers and its one hook (plugins use ``dlcompare.hookimpl``)."""

import pluggy

PROJECT = "dlcompare"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def dlcompare_register_trainers(register):
    """Register trainers by calling ``register(trainer)`` once per trainer.

    ``trainer`` is a :class:`dlcompare.Trainer`: a ``name`` (the library's canonical name, e.g.
    ``torch``), the ``architectures`` it supports (canonical names from :mod:`dlcompare.glossary`)
    and a ``train(run)`` method that writes the run artifacts.
    """
