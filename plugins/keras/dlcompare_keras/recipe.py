"""The training recipe from the ``keras:`` params section: Adam, rates per phase and layer group,
and the opt-in one-cycle variant.

The thesis's recipe (the defaults of params.schema.yaml) is plain ``keras.optimizers.Adam`` at one constant rate
per phase.

``one_cycle: true`` and ``discriminative: true`` are the thesis's untested conjecture ("Keras with
one-cycle and discriminative rates would probably do as well as fastai"), made runnable:

- one-cycle (:class:`OneCycle`) is fastai's ``fit_one_cycle`` per phase, per batch: the rate
  rises from max/25 to max over the first ``pct_start`` of the steps and falls to max/1e5 along
  cosines, while Adam's beta_1 does the opposite between ``moms`` (0.95 -> 0.85 -> 0.95);
- discriminative rates give each layer group (body_early, body_late, head) its own rate: a phase
  ``lr: [low, high]`` is spread geometrically over the groups, as fastai's ``slice`` does.

Keras 3 has one learning rate per optimizer, and scaling gradients does not scale Adam's steps
(Adam divides by the gradient's own magnitude), so :class:`GroupAdam` is Adam with a rate factor
per variable inside its update step (and beta_1 read from a schedule when it is one). The Adam
arithmetic is Keras's own, line for line.
"""

from __future__ import annotations

import math

from dlcompare import phase_lrs  # noqa: F401  (part of this module's API)

from . import env

DIV = 25.0          # one-cycle: first rate = max / DIV (fastai's div)
DIV_FINAL = 1e5     # one-cycle: last rate = max / DIV_FINAL (fastai's div_final)

keras = env.load()
ops = keras.ops


def cos_between(start, end, pos):
    """fastai's SchedCos: ``start`` at pos 0 to ``end`` at pos 1 along half a cosine (written as a
    weighted mean, so float32 hits ``end`` exactly even when it is 1e5 times smaller than ``start``)."""
    weight = (1 + ops.cos(math.pi * (1 - pos))) / 2
    return start * (1 - weight) + end * weight


def one_cycle_value(step, total_steps: int, pct_start: float, start, middle, end):
    """fastai's ``combined_cos`` at batch ``step`` of ``total_steps`` (pos = step / total)."""
    pos = ops.minimum(ops.cast(step, "float32") / float(max(total_steps, 1)), 1.0)
    first = cos_between(start, middle, ops.minimum(pos / pct_start, 1.0))
    second = cos_between(middle, end, ops.maximum(pos - pct_start, 0.0) / (1 - pct_start))
    return ops.where(pos < pct_start, first, second)


@keras.saving.register_keras_serializable(package="dlcompare")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle learning rate: max/25 -> max (first ``pct_start`` of the steps) -> max/1e5."""

    def __init__(self, max_lr: float, total_steps: int, pct_start: float = 0.25):
        self.max_lr, self.total_steps, self.pct_start = float(max_lr), int(total_steps), float(pct_start)

    def __call__(self, step):
        return one_cycle_value(step, self.total_steps, self.pct_start,
                               self.max_lr / DIV, self.max_lr, self.max_lr / DIV_FINAL)

    def get_config(self):
        return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start}


class CyclicMomentum:
    """beta_1 along the cycle: ``high`` -> ``low`` (first ``pct_start``) -> ``high`` (fastai's moms)."""

    def __init__(self, moms, total_steps: int, pct_start: float = 0.25):
        self.high, self.low = float(moms[0]), float(moms[1])
        self.total_steps, self.pct_start = int(total_steps), float(pct_start)

    def __call__(self, step):
        return one_cycle_value(step, self.total_steps, self.pct_start, self.high, self.low, self.high)


class GroupAdam(keras.optimizers.Adam):
    """Keras's Adam with a learning-rate factor per variable and, optionally, a scheduled beta_1.

    ``factors`` maps ``id(variable)`` to the factor its layer group's rate is of the optimizer's
    rate (variables not in it get 1). ``beta_1`` may be a callable of the step (:class:`CyclicMomentum`).
    """

    def __init__(self, factors: dict[int, float] | None = None, beta_1=0.9, **kwargs):
        super().__init__(beta_1=0.9 if callable(beta_1) else beta_1, **kwargs)
        self.beta_1_schedule = beta_1 if callable(beta_1) else None
        self._factor_by_id = dict(factors or {})
        self._factors: list[float] = []

    def build(self, var_list):
        super().build(var_list)
        self._factors = [float(self._factor_by_id.get(id(v), 1.0)) for v in var_list]

    def current_beta_1(self):
        if self.beta_1_schedule is None:
            return self.beta_1
        return self.beta_1_schedule(self.iterations)

    def factor(self, variable) -> float:
        return self._factors[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        """``keras.optimizers.Adam.update_step`` (amsgrad aside) with lr * factor and beta_1(step)."""
        lr = ops.cast(learning_rate, variable.dtype) * self.factor(variable)
        gradient = ops.cast(gradient, variable.dtype)
        beta_1 = ops.cast(self.current_beta_1(), variable.dtype)
        local_step = ops.cast(self.iterations + 1, variable.dtype)
        beta_1_power = ops.power(beta_1, local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))


def make_optimizer(cfg: dict, lrs: list[float], group_variables: list[list], total_steps: int):
    """The phase's optimizer: plain ``keras.optimizers.Adam`` for the thesis's recipe (one constant
    rate), :class:`GroupAdam` when the rates differ per group or follow the one cycle.

    ``group_variables`` holds the trainable variables of each layer group, in the order of ``lrs``.
    """
    top = max(lrs)
    common = {"beta_2": cfg["beta_2"]}
    if not cfg["one_cycle"] and len(set(lrs)) == 1:
        return keras.optimizers.Adam(learning_rate=top, beta_1=cfg["beta_1"], **common)
    factors = {id(v): lr / top for lr, variables in zip(lrs, group_variables, strict=True) for v in variables}
    if cfg["one_cycle"]:
        return GroupAdam(factors, learning_rate=OneCycle(top, total_steps, cfg["pct_start"]),
                         beta_1=CyclicMomentum(cfg["moms"], total_steps, cfg["pct_start"]), **common)
    return GroupAdam(factors, learning_rate=top, beta_1=cfg["beta_1"], **common)


def rates_at(optimizer, step: int, variable) -> tuple[float, float]:
    """(learning rate, beta_1) that ``optimizer`` applies to ``variable`` at batch ``step`` (for
    tests and run.json)."""
    schedule = optimizer._learning_rate
    lr = schedule(step) if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule) \
        else optimizer.learning_rate
    factor, beta_1 = 1.0, optimizer.beta_1
    if isinstance(optimizer, GroupAdam):
        factor = optimizer._factor_by_id.get(id(variable), 1.0)
        if optimizer.beta_1_schedule is not None:
            beta_1 = optimizer.beta_1_schedule(step)
    return float(ops.convert_to_numpy(lr)) * factor, float(ops.convert_to_numpy(beta_1))
