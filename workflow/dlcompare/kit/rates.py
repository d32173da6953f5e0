"""Learning rates per layer group, one rule for every plugin (discriminative rates compare fairly
only if each library spreads a params range over its groups the same way). Pure Python."""

from __future__ import annotations


def phase_lrs(cfg: dict, phase: str, n_groups: int) -> list[float]:
    """One learning rate per layer group (earliest first, head last) for ``phase``.

    A single rate applies to every group. A range [low, high] is spread geometrically over the
    groups when ``cfg["discriminative"]`` is on; otherwise every group gets ``high``.
    """
    lr = cfg[phase]["lr"]
    if not isinstance(lr, (list, tuple)):
        return [float(lr)] * n_groups
    lo, hi = float(lr[0]), float(lr[-1])
    if not cfg["discriminative"] or n_groups == 1:
        return [hi] * n_groups
    step = (hi / lo) ** (1 / (n_groups - 1))
    return [lo * step ** i for i in range(n_groups)]
