"""The Keras plugin: what it configures (head, L2 on every kernel, freezing, Adam, one-cycle and
discriminative rates, augmentation, weights cache) and what a tiny run does.

The fast tests build models on tiny inputs (resnet18 at 16 px, vgg16 at 32 px) and never train;
the real runs (a tiny run, resume after a kill, the one-cycle variant, every architecture, the
conformance suite) are marked slow: TensorFlow spends most of a tiny run tracing its graphs.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("keras")

from dlcompare_keras import env  # noqa: E402

keras = env.import_keras("tensorflow")

from dlcompare.host import contract  # noqa: E402
from dlcompare import testing
from dlcompare.errors import UserError  # noqa: E402
from dlcompare.glossary import ARCHS, HISTORY, PROBS  # noqa: E402
from dlcompare.host.plugins import load_registry  # noqa: E402
from dlcompare.kit import ledger  # noqa: E402
from dlcompare_keras import data, model as model_lib, recipe, weights  # noqa: E402
from dlcompare_keras.plugin import KerasTrainer  # noqa: E402
from dlcompare_keras.train import assign, build_model, load_variables, save_variables  # noqa: E402

import tensorflow as tf  # noqa: E402

TINY = {"phase1": {"epochs": 2, "lr": 3e-3}, "phase2": {"epochs": 1, "lr": 3e-5}}


def settings(section: dict) -> dict:
    """The section as a run gets it: validated, the plugin's defaults filled in."""
    return KerasTrainer().resolve_params(section)


DEFAULTS = settings({})


def build(arch="resnet18", size=16, n_classes=3, **kwargs):
    keras.utils.set_random_seed(0)
    return model_lib.build(arch, size, n_classes, **kwargs)


@pytest.fixture(scope="module")
def small():
    return build()


@pytest.fixture(scope="module")
def vgg():
    return build("vgg16", 32)


# --- what is configured -------------------------------------------------------------------

def test_registered_through_the_entry_point():
    trainer = load_registry().get("keras")
    assert isinstance(trainer, KerasTrainer)
    assert set(trainer.architectures) == set(ARCHS)
    assert trainer.library_version() == keras.__version__
    assert trainer.gpu_count() == len(tf.config.list_physical_devices("GPU"))


def test_defaults_are_the_keras_column_of_table_4_1():
    cfg = settings({"phase1": {"epochs": 1}, "augment": {"zoom": 0.2}})
    assert cfg["phase1"] == {"epochs": 1, "lr": 3e-3}          # nested sections merge key by key
    assert cfg["phase2"] == {"epochs": 100, "lr": 3e-5}
    assert DEFAULTS["phase1"]["epochs"] == 50
    assert (cfg["beta_1"], cfg["beta_2"], cfg["l2"]) == (0.9, 0.999, 0.01)
    assert not cfg["one_cycle"] and not cfg["discriminative"] and cfg["backend"] == "tensorflow"
    assert cfg["augment"]["zoom"] == 0.2 and cfg["augment"]["flip_vertical"] and cfg["augment"]["shear"] == 0.1


def test_the_project_params_section_uses_only_known_keys():
    from dlcompare import params

    section = params.load([str(Path(__file__).resolve().parents[3] / "params.yaml")])["keras"]
    assert set(section) <= set(DEFAULTS)
    assert set(section["augment"]) <= set(DEFAULTS["augment"])


def test_head_layers_and_initialisers(small):
    names = [layer.name for layer in small.layers]
    assert names[:3] == ["image", "preprocess", "resnet18"]
    head = small.layers[3:]
    assert [type(layer).__name__ for layer in head] == [
        "GlobalAveragePooling2D", "BatchNormalization", "Dropout", "Dense", "Activation",
        "BatchNormalization", "Dropout", "Dense"]
    dense1, dense2 = head[3], head[7]
    assert dense1.units == 512 and dense2.units == 3
    assert dense1.activation.__name__ == "linear" and head[4].activation.__name__ == "relu"
    assert dense2.activation.__name__ == "softmax"
    assert [head[2].rate, head[6].rate] == [0.5, 0.5]
    for dense in (dense1, dense2):
        assert type(dense.kernel_initializer).__name__ == "HeUniform"
        assert type(dense.bias_initializer).__name__ == "Zeros"
        assert not np.any(keras.ops.convert_to_numpy(dense.bias))
        fan_in = dense.kernel.shape[0]
        w = keras.ops.convert_to_numpy(dense.kernel)
        assert np.abs(w).max() <= np.sqrt(6 / fan_in) and w.std() > 0.5 * np.sqrt(2 / fan_in)
    assert small.output_shape == (None, 3)
    other = build(dense_units=7, dropout=0.25)
    assert other.get_layer("head_dense1").units == 7 and other.get_layer("head_dropout2").rate == 0.25


def test_each_body_gets_its_own_preprocess_input():
    modes = {arch: model_lib.BODIES[arch][1] for arch in ARCHS}
    assert modes == {"vgg16": "vgg16", "vgg19": "vgg19", "resnet50": "resnet50", "resnet101": "resnet",
                     "densenet121": "densenet", "densenet169": "densenet", "resnet18": "resnet"}
    x = np.full((1, 2, 2, 3), [255.0, 0.0, 0.0], dtype=np.float32)          # pure red
    caffe = keras.ops.convert_to_numpy(model_lib.Preprocess("resnet")(x))[0, 0, 0]
    assert caffe == pytest.approx([-103.939, -116.779, 255 - 123.68])       # BGR, mean-subtracted
    torch_style = keras.ops.convert_to_numpy(model_lib.Preprocess("densenet")(x))[0, 0, 0]
    assert torch_style == pytest.approx([(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225], rel=1e-5)


def test_resnet18_is_torchvisions_resnet18_in_keras(small):
    body = model_lib.body_model(small)
    assert model_lib.count_params(body.trainable_weights) == 11_176_512      # torchvision's body
    convs = [layer for layer in body.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 20 and not any(layer.use_bias for layer in convs)
    assert body.output_shape == (None, 1, 1, 512)


def test_setting_kernel_regularizer_alone_does_nothing_in_keras_3():
    """Why attach_l2 sets the variable's regularizer: the layer attribute is read only at build."""
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    layer.kernel_regularizer = keras.regularizers.L2(0.01)
    assert layer.losses == []
    layer.kernel.regularizer = keras.regularizers.L2(0.01)
    assert len(layer.losses) == 1


@pytest.mark.parametrize("fixture", ["small", "vgg"])
def test_l2_on_every_kernel_of_body_and_head_with_the_expected_value(fixture, request):
    model = request.getfixturevalue(fixture)
    kernels = model_lib.kernel_layers(model)
    body_kernels = [layer for layer in kernels if not layer.name.startswith("head_")]
    assert len(kernels) - len(body_kernels) == 2 and body_kernels
    for layer in kernels:
        assert isinstance(layer.kernel.regularizer, keras.regularizers.L2)
        assert layer.kernel.regularizer.l2 == pytest.approx(0.01)
    model_lib.set_phase(model, "phase2")
    saved = [keras.ops.convert_to_numpy(layer.kernel) for layer in kernels]
    try:
        expected = 0.0
        for i, layer in enumerate(kernels):          # known weights: a constant per kernel
            value = 0.001 * (i + 1)
            layer.kernel.assign(np.full(layer.kernel.shape, value, dtype="float32"))
            expected += 0.01 * value**2 * np.prod(layer.kernel.shape)
        assert len(model.losses) == len(kernels)
        total = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
        assert total == pytest.approx(expected, rel=1e-5)
        assert model_lib.l2_penalty(model, 0.01) == pytest.approx({"keras": expected, "all_kernels": expected}, rel=1e-5)
        # The penalty really reaches the gradient of a body kernel: d(0.01 w^2)/dw = 0.02 w.
        first = body_kernels[0].kernel
        with tf.GradientTape() as tape:
            penalty = tf.add_n(model.losses)
        grad = tape.gradient(penalty, first.value)
        assert np.allclose(grad.numpy(), 0.02 * first.numpy())
    finally:
        for layer, value in zip(kernels, saved):
            layer.kernel.assign(value)


def test_no_l2_when_it_is_zero():
    assert build(l2=0.0).losses == []


@pytest.mark.parametrize("fixture", ["small", "vgg"])
def test_phase1_trains_only_the_head_and_body_batchnorm(fixture, request):
    model = request.getfixturevalue(fixture)
    body = model_lib.body_model(model)
    model_lib.set_phase(model, "phase1")
    trainable = [layer for layer in body.layers if layer.trainable and layer.weights]
    assert all(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)
    n_bn = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in body.layers)
    assert len(trainable) == n_bn                                    # vgg16: none, resnet18: 20
    head = [layer for layer in model.layers if layer.name.startswith("head_")]
    assert all(layer.trainable for layer in head)
    expected = {id(v) for layer in trainable + head for v in layer.trainable_weights}
    assert {id(v) for v in model.trainable_variables} == expected
    assert len(model.losses) == 2                                    # Keras 3: trainable kernels only
    model_lib.set_phase(model, "phase2")
    assert all(layer.trainable for layer in model_lib.all_layers(model))
    assert len(model.trainable_variables) == len(model.trainable_weights) == \
        sum(len(layer.trainable_weights) for layer in model_lib.all_layers(model))
    assert len(model.losses) == len(model_lib.kernel_layers(model))


@pytest.mark.parametrize("fixture,late", [("small", "conv4_block1_1_pad"), ("vgg", "block4_conv1")])
def test_layer_groups_partition_the_trainable_variables(fixture, late, request):
    model = request.getfixturevalue(fixture)
    model_lib.set_phase(model, "phase2")
    arch = "resnet18" if fixture == "small" else "vgg16"
    groups = model_lib.layer_groups(arch, model)
    assert list(groups) == list(model_lib.GROUP_NAMES) and groups["body_late"][0].name == late
    ids = [id(v) for variables in model_lib.group_variables(groups) for v in variables]
    assert len(ids) == len(set(ids)) and set(ids) == {id(v) for v in model.trainable_variables}
    assert all(model_lib.group_variables(groups))


def test_thesis_optimizer_is_plain_adam_with_its_betas_and_rates():
    cfg = settings({})
    for phase, lr in (("phase1", 3e-3), ("phase2", 3e-5)):
        lrs = recipe.phase_lrs(cfg, phase, 3)
        assert lrs == [lr] * 3
        opt = recipe.make_optimizer(cfg, lrs, [[], [], []], 100)
        assert type(opt) is keras.optimizers.Adam
        assert (opt.beta_1, opt.beta_2) == (0.9, 0.999)
        assert float(opt.learning_rate) == pytest.approx(lr)
    opt = recipe.make_optimizer(settings({"beta_1": 0.8, "beta_2": 0.99}), [1e-3] * 3, [[], [], []], 10)
    assert (opt.beta_1, opt.beta_2) == (0.8, 0.99)


def first_adam_steps(opt, variables):
    """Apply a gradient of ones once; return each variable's change (Adam's first step ~ -lr)."""
    before = [v.numpy().copy() for v in variables]
    opt.apply_gradients([(tf.ones_like(v.value), v) for v in variables])
    return [float(np.mean(v.numpy() - b)) for v, b in zip(variables, before)]


def test_discriminative_rates_really_differ_per_layer_group():
    cfg = settings({"discriminative": True, "phase2": {"epochs": 1, "lr": [1e-4, 1e-2]}})
    lrs = recipe.phase_lrs(cfg, "phase2", 3)
    assert lrs == pytest.approx([1e-4, 1e-3, 1e-2])
    groups = [[keras.Variable(np.zeros(4, dtype="float32"))] for _ in range(3)]
    opt = recipe.make_optimizer(cfg, lrs, groups, 10)
    assert isinstance(opt, recipe.GroupAdam) and float(opt.learning_rate) == pytest.approx(1e-2)
    steps = first_adam_steps(opt, [g[0] for g in groups])
    assert steps == pytest.approx([-1e-4, -1e-3, -1e-2], rel=1e-3)
    # Without `discriminative` a range means its top rate for every group.
    assert recipe.phase_lrs(settings({"phase2": {"epochs": 1, "lr": [1e-4, 1e-2]}}), "phase2", 3) == [1e-2] * 3


def test_one_cycle_schedule_matches_fastais():
    fastai_schedule = pytest.importorskip("fastai.callback.schedule")
    total, top = 200, 1e-3
    lr = recipe.OneCycle(top, total, 0.25)
    mom = recipe.CyclicMomentum([0.95, 0.85], total, 0.25)
    ref_lr = fastai_schedule.combined_cos(0.25, top / 25, top, top / 1e5)
    ref_mom = fastai_schedule.combined_cos(0.25, 0.95, 0.85, 0.95)
    for step in (0, 1, 25, 49, 50, 51, 120, 199, 200):
        assert float(lr(step)) == pytest.approx(float(ref_lr(step / total)), rel=1e-5, abs=top * 1e-6)
        assert float(mom(step)) == pytest.approx(float(ref_mom(step / total)), rel=1e-6)
    assert float(lr(0)) == pytest.approx(top / 25) and float(lr(50)) == pytest.approx(top)
    assert float(lr(total)) == pytest.approx(top / 1e5, rel=1e-6) and float(mom(50)) == pytest.approx(0.85)


@pytest.mark.parametrize("step", [0, 30, 150])
def test_one_cycle_optimizer_applies_the_scheduled_rate_and_beta_1(step):
    cfg = settings({"one_cycle": True, "discriminative": True, "phase2": {"epochs": 1, "lr": [1e-4, 1e-2]}})
    lrs = recipe.phase_lrs(cfg, "phase2", 3)
    groups = [[keras.Variable(np.zeros(3, dtype="float32"))] for _ in range(3)]
    total = 200
    opt = recipe.make_optimizer(cfg, lrs, groups, total)
    opt.build([g[0] for g in groups])
    opt.iterations.assign(step)          # fresh moments at this step of the cycle
    steps = first_adam_steps(opt, [g[0] for g in groups])
    rate = float(recipe.OneCycle(1e-2, total, 0.25)(step))
    beta_1 = float(recipe.CyclicMomentum([0.95, 0.85], total, 0.25)(step))
    t = step + 1                          # Adam's bias correction with this step's beta_1
    size = np.sqrt(1 - 0.999**t) / (1 - beta_1**t) * (1 - beta_1) / (np.sqrt(1 - 0.999) + 1e-7)
    for got, group_lr in zip(steps, lrs):
        assert got == pytest.approx(-rate * group_lr / 1e-2 * size, rel=1e-4)
    assert recipe.rates_at(opt, step, groups[0][0]) == pytest.approx((rate * lrs[0] / 1e-2, beta_1), rel=1e-5)


def test_augmentation_layers_follow_params():
    layers = data.augmentation_layers(DEFAULTS["augment"], seed=7)
    assert [type(layer).__name__ for layer in layers] == [
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomShear", "RandomBrightness"]
    flip, rotation, zoom, shear, brightness = layers
    assert flip.mode == "horizontal_and_vertical"
    assert tuple(rotation.factor) == pytest.approx((-0.03, 0.03))
    assert (zoom.height_lower, zoom.height_upper) == pytest.approx((-0.1, 0.1)) and zoom.width_factor is None
    assert tuple(shear.x_factor) == pytest.approx((-0.1, 0.1)) and tuple(shear.y_factor) == pytest.approx((0.0, 0.0))
    assert tuple(brightness.factor) == pytest.approx((-0.1, 0.1)) and tuple(brightness.value_range) == (0, 255)
    only_flip = data.augmentation_layers({"flip_horizontal": True}, seed=7)
    assert [(type(layer).__name__, layer.mode) for layer in only_flip] == [("RandomFlip", "horizontal")]
    assert data.augmentation_layers({}, seed=7) == []


@pytest.fixture(scope="module")
def arrays():
    return {split: testing.synthetic_images(n, 3, 16, seed=k)
            for k, (split, n) in enumerate((("train", 20), ("valid", 7), ("test", 5)))}


def batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds] if isinstance(ds.element_spec, tuple) else [x.numpy() for x in ds]


def test_only_the_training_set_is_shuffled_and_augmented(arrays):
    feeder = data.Feeder(arrays, 8, seed=0, augment=DEFAULTS["augment"])
    assert feeder.steps_per_epoch == 2 and feeder.drop_last                 # 20 images: 2 full batches
    valid = np.concatenate(batches(feeder.evaluate("valid")))
    assert [len(x) for x in batches(feeder.evaluate("valid"))] == [8]      # 7 images, padded to one full batch
    assert valid.dtype == np.float32 and np.array_equal(valid[:7], arrays["valid"][0].astype(np.float32))
    assert not valid[7:].any() and feeder.rows("valid") == 7
    epoch1 = batches(feeder.train(0, 1))
    assert [len(y) for _, y in epoch1] == [8, 8]
    plain = batches(feeder.train(0, 1, augment=False))
    images, labels = arrays["train"]
    for (x, y), (px, py) in zip(epoch1, plain):
        assert np.array_equal(y, py)                                        # same order either way
        rows = [int(np.flatnonzero((images.reshape(20, -1) == img.reshape(-1)).all(axis=1))[0]) for img in px]
        assert np.array_equal(labels[rows], py)                              # unaugmented = gathered rows
        assert not np.allclose(x, px)                                        # augmented differs
        assert x.min() >= 0 and x.max() <= 255
    again = batches(data.Feeder(arrays, 8, seed=0, augment=DEFAULTS["augment"]).train(0, 1))
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(epoch1, again))
    other = batches(feeder.train(0, 2, augment=False))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(plain, other))


def test_the_reused_pipeline_gives_each_epoch_what_a_new_one_would(arrays):
    """One pipeline per run, its order and the layers' random states set each epoch: epoch 2 after
    epoch 1 (or after another phase) is what a fresh Feeder (a resumed run) gives for epoch 2."""
    feeder = data.Feeder(arrays, 8, seed=3, augment=DEFAULTS["augment"])
    batches(feeder.train(0, 1))
    batches(feeder.train(1, 5))
    for phase, epoch in ((0, 2), (1, 1)):
        fresh = batches(data.Feeder(arrays, 8, seed=3, augment=DEFAULTS["augment"]).train(phase, epoch))
        reused = batches(feeder.train(phase, epoch))
        assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(fresh, reused))
    assert feeder.train(0, 3) is feeder.train(0, 4)                  # built once: nothing traced again


def test_pipelines_run_without_tf_data_autotuning(arrays):
    """Autotuning's thread stalled fit's iterator teardown (0.3-2.6 s, the CPU idle): every
    dataset the plugin gives Keras has it off (and train.workers still applies)."""
    feeder = data.Feeder(arrays, 8, seed=0, augment=DEFAULTS["augment"], workers=2)
    for ds in (feeder.train(0, 1), feeder.train(0, 1, augment=False), feeder.evaluate("valid")):
        assert ds.options().autotune.enabled is False
        assert ds.options().threading.private_threadpool_size == 2


def test_nothing_retraces_between_epochs_or_on_the_short_last_batch(arrays):
    """Training batches all have one shape (the short last one is dropped) and evaluation batches
    are padded to it, so each of Keras's step functions is traced once per compile."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy())
    traces = {"train": 0, "predict": 0}

    def counting(kind, step):
        def traced(*args, **kwargs):       # Python runs only while TensorFlow traces the step
            traces[kind] += 1
            return step(*args, **kwargs)
        return traced
    model.train_step = counting("train", model.train_step)
    model.predict_step = counting("predict", model.predict_step)
    feeder = data.Feeder(arrays, 8, seed=0, augment=DEFAULTS["augment"])
    seen = []
    for epoch in (1, 2, 3):
        model.fit(feeder.train(0, epoch), epochs=1, verbose=0, shuffle=False)
        assert feeder.predict(model, "valid").shape == (7, 3)
        seen.append(dict(traces))
    assert seen[0] == seen[1] == seen[2]           # traced in the first epoch (train: once more, for its
    assert seen[0]["predict"] == 1                 # variables), never again: the short batch included
    assert np.allclose(feeder.predict(model, "test"), model.predict(arrays["test"][0].astype("float32"), verbose=0),
                       atol=1e-5)                                         # padding changes no row


def test_mixed_precision_policy_per_device():
    assert env.precision_policy("fp32", "cpu") == "float32"
    assert env.precision_policy("mixed", "cpu") == "mixed_bfloat16"
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = model_lib.build("resnet18", 32, 3, 8, 0.5, 0.01)
        out = model.predict(np.zeros((2, 32, 32, 3), dtype="float32"), verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert out.dtype == np.float32 and np.allclose(out.sum(axis=1), 1, atol=1e-5)   # float32 probabilities


def test_checkpoint_variables_round_trip(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    initial = [np.array(keras.ops.convert_to_numpy(v)) for v in model.variables + optimizer.variables]
    write = save_variables(tmp_path / "v.npz", model, optimizer, keras)
    # training goes on before the write: an optimizer step updates every variable in place
    optimizer.apply([np.ones((3, 2), "float32"), np.ones(2, "float32")], model.trainable_variables)
    model.variables[0].assign(np.ones((3, 2)))
    assert not np.array_equal(keras.ops.convert_to_numpy(model.variables[1]), initial[1])
    write()
    saved = load_variables(tmp_path / "v.npz")
    assert [v.shape for v in saved["model"]] == [(3, 2), (2,)]
    assert len(saved["optimizer"]) == len(optimizer.variables)
    for value, before in zip(saved["model"] + saved["optimizer"], initial):
        assert np.array_equal(value, before)            # the values at save time
    with pytest.raises(ValueError, match="saved values"):
        assign([keras.Variable(np.zeros(3))], saved["model"], "model")


# --- ImageNet weights through the Keras cache ---------------------------------------------

def fake_run(**overrides):
    fields = dict(arch="vgg16", image_size=32, n_classes=3, seed=0, pretrained="imagenet", log=lambda line: None)
    fields.update(overrides)
    return SimpleNamespace(**fields)


def seed_cache(arch: str, filename_of: str | None = None) -> np.ndarray:
    """Write a freshly built body's weights where Keras keeps ``filename_of``'s no-top weights,
    in the legacy HDF5 layout keras.applications files have. Returns its first kernel."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(123)
    body = model_lib.body(arch, 32)
    path = weights.cached_path(filename_of or arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, body)
    return keras.ops.convert_to_numpy(model_lib.kernel_layers(body)[0].kernel)


def test_imagenet_weights_come_from_a_pre_seeded_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "BASE", "http://127.0.0.1:9/")     # any download attempt fails
    assert weights.cached_path("vgg16") == tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    first_kernel = seed_cache("vgg16")
    model, path = build_model(fake_run(), settings({}))
    assert path == weights.cached_path("vgg16")
    loaded = keras.ops.convert_to_numpy(model_lib.kernel_layers(model_lib.body_model(model))[0].kernel)
    assert np.array_equal(loaded, first_kernel)
    assert len(model.losses) == len(model_lib.kernel_layers(model))    # L2 survives the loading
    fresh, _ = build_model(fake_run(pretrained="none"), settings({}))
    assert not np.array_equal(keras.ops.convert_to_numpy(model_lib.kernel_layers(fresh)[0].kernel), first_kernel)


def test_missing_weights_offline_is_one_clear_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "BASE", "http://127.0.0.1:9/")
    with pytest.raises(UserError) as err:
        build_model(fake_run(arch="densenet121"), settings({}))
    message = str(err.value)
    assert "\n" not in message and str(weights.cached_path("densenet121")) in message
    assert "train.pretrained=none" in message and "KERAS_HOME" in message
    assert not weights.cached_path("densenet121").exists()


def test_resnet18_has_no_keras_imagenet_weights():
    with pytest.raises(UserError, match="no ImageNet weights for 'resnet18'"):
        build_model(fake_run(arch="resnet18", image_size=16), settings({}))


def test_too_small_images_for_an_application_body_are_a_user_error():
    with pytest.raises(UserError, match="VGG16 needs images of at least 32 px"):
        build_model(fake_run(image_size=16, pretrained="none"), settings({}))


def test_weights_file_of_another_model_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    seed_cache("vgg16", filename_of="vgg19")                 # vgg16 weights under vgg19's name
    with pytest.raises(UserError, match="does not load into vgg19"):
        build_model(fake_run(arch="vgg19"), settings({}))


def test_importing_keras_prints_nothing():
    code = "from dlcompare_keras import env; env.import_keras('tensorflow'); import tensorflow"
    env_vars = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_vars, timeout=300)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr


def test_another_backend_after_tensorflow_is_a_user_error():
    with pytest.raises(UserError, match="already loaded"):
        env.import_keras("torch")
    with pytest.raises(UserError, match="must be one of"):
        env.import_keras("theano")


# --- real runs (slow) ---------------------------------------------------------------------

def make_run(root, out="out", seed=0, params=TINY, log=lambda _: None) -> contract.Run:
    return testing.tiny_run(root, "keras", settings(copy.deepcopy(params)), out, seed, log)


def read_history(run) -> list[dict]:
    with open(run.out_dir / HISTORY, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted tiny run (resnet18, 16 px, 2 + 1 epochs), its log lines and stdout."""
    import contextlib
    import io

    lines, stdout = [], io.StringIO()
    run = make_run(tmp_path_factory.mktemp("keras"), log=lines.append)
    with contextlib.redirect_stdout(stdout):
        KerasTrainer().train(run)
    return run, lines, stdout.getvalue()


@pytest.mark.slow
def test_tiny_run_writes_the_contract_and_the_keras_losses(reference):
    run, lines, stdout = reference
    info = contract.check_artifacts(run.out_dir, run.split_dir, 3)
    history = read_history(run)
    assert [(r["phase"], r["epoch"]) for r in history] == [("phase1", "1"), ("phase1", "2"), ("phase2", "1")]
    assert [line.split(" epoch ")[1][:3] for line in lines] == ["1/2", "2/2", "1/1"]   # one line per epoch
    assert "\r" not in stdout and stdout == ""
    extras = info["extras"]
    assert info["param_count"] == build().count_params() == 11_454_403
    bn_statistics = model_lib.count_params(build().non_trainable_weights)   # moving means, variances
    assert extras["trainable_params"]["phase1"] < extras["trainable_params"]["phase2"] == \
        info["param_count"] - bn_statistics
    assert extras["learning_rates"] == {"phase1": [3e-3] * 3, "phase2": [3e-5] * 3}
    assert extras["optimizer"] == {"phase1": "Adam", "phase2": "Adam"} and extras["deterministic"]
    losses = extras["keras_losses"]
    assert [(r["phase"], r["epoch"]) for r in losses] == [("phase1", 1), ("phase1", 2), ("phase2", 1)]
    for row, hist in zip(losses, history):
        assert row["keras_train_loss"] == pytest.approx(float(hist["train_loss"]))
        assert row["keras_train_loss"] > row["l2_keras"] > 0                 # Keras's loss includes L2
        assert row["keras_valid_loss"] == pytest.approx(float(hist["valid_loss"]) + row["l2_keras"])
    assert losses[0]["l2_keras"] < losses[0]["l2_all_kernels"]              # phase1: frozen body not counted
    assert losses[2]["l2_keras"] == pytest.approx(losses[2]["l2_all_kernels"], rel=1e-5)
    assert set(info["versions"]) >= {"keras", "tensorflow", "backend", "python", "device_name"}
    assert info["images_per_second"]["train"] > 0 and info["peak_memory_mb"] > 10
    assert np.load(run.out_dir / PROBS["test"]).shape == (6, 3)
    assert (run.checkpoint_dir / ledger.STATE).is_file()


@pytest.mark.slow
def test_one_cycle_variant_trains(reference):
    ref, _, _ = reference
    params = {"one_cycle": True, "discriminative": True,
              "phase1": {"epochs": 1, "lr": 3e-3}, "phase2": {"epochs": 1, "lr": [5e-6, 5e-4]}}
    run = make_run(ref.out_dir.parent, out="onecycle", params=params)
    KerasTrainer().train(run)
    info = contract.check_artifacts(run.out_dir, run.split_dir, 3)
    extras = info["extras"]
    assert extras["optimizer"] == {"phase1": "GroupAdam", "phase2": "GroupAdam"}
    assert extras["learning_rates"]["phase2"] == pytest.approx([5e-6, 5e-5, 5e-4])


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_builds_with_groups_l2_and_freezing(arch):
    model = build(arch, 32)
    groups = model_lib.layer_groups(arch, model)
    model_lib.set_phase(model, "phase1")
    body = model_lib.body_model(model)
    assert all(isinstance(layer, keras.layers.BatchNormalization)
               for layer in body.layers if layer.trainable and layer.weights)
    assert len(model.losses) == 2
    model_lib.set_phase(model, "phase2")
    assert len(model.losses) == len(model_lib.kernel_layers(model)) > 10
    ids = [id(v) for variables in model_lib.group_variables(groups) for v in variables]
    assert sorted(ids) == sorted(id(v) for v in model.trainable_variables)
    assert model.predict(np.zeros((2, 32, 32, 3), dtype="float32"), verbose=0).shape == (2, 3)


@pytest.mark.slow
def test_torch_backend_trains_too(tmp_path):
    """keras.backend=torch: the same plugin on Keras's PyTorch backend (its own process)."""
    pytest.importorskip("torch")
    code = (
        "import json\n"
        "from pathlib import Path\n"
        "from dlcompare import testing\n"
        "from dlcompare.host import contract\n"
        "from dlcompare.data import splitcache\n"
        "from dlcompare_keras.plugin import KerasTrainer\n"
        f"root = Path({str(tmp_path)!r})\n"
        "testing.make_split(root, n_classes=3, sizes=(24, 9, 6), image_size=16)\n"
        "(root / 'out').mkdir()\n"
        "run = contract.Run(library='keras', arch='resnet18', seed=0, device='cpu', pretrained='none',\n"
        "    image_size=16, batch_size=8, threads=1, classes=splitcache.load_classes(root / 'data/split'),\n"
        "    split_dir=root / 'data/split', out_dir=root / 'out', checkpoint_dir=root / 'ckpt',\n"
        "    params=KerasTrainer().resolve_params({'backend': 'torch', 'phase1': {'epochs': 1, 'lr': 3e-3},\n"
        "                                          'phase2': {'epochs': 1, 'lr': 3e-5}}))\n"
        "KerasTrainer().train(run)\n"
        "info = contract.check_artifacts(run.out_dir, run.split_dir, 3)\n"
        "import keras; print(json.dumps([keras.backend.backend(), info['versions']['backend'], 'torch' in info['versions']]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["torch", "torch", True]
    assert done.stderr == ""


@pytest.mark.slow
def test_conformance_suite():
    done = subprocess.run([sys.executable, "-m", "dlcompare.cli", "check-plugin", "keras"],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
