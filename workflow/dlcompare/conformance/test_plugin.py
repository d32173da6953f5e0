"""The conformance suite as pytest tests: one test per contract rule, on two shared tiny runs.

    DLCOMPARE_CHECK_PLUGIN=NAME pytest --pyargs dlcompare.conformance
"""

import os

import pytest

from dlcompare.conformance import runner
from dlcompare.errors import UserError


@pytest.fixture(scope="module")
def trial(request, tmp_path_factory):
    library = request.config.getoption("--dlcompare-plugin", None) or os.environ.get(runner.ENV_PLUGIN)
    if not library:
        pytest.fail(f"name the plugin to check: {runner.ENV_PLUGIN}=NAME pytest --pyargs "
                    "dlcompare.conformance (or --dlcompare-plugin NAME)", pytrace=False)
    arch = request.config.getoption("--dlcompare-arch", None) or os.environ.get(runner.ENV_ARCH)
    params_file = request.config.getoption("--dlcompare-params", None) or os.environ.get(runner.ENV_PARAMS)
    try:
        params = runner.load_params(params_file)
        return runner.prepare(library, arch, tmp_path_factory.mktemp(f"check-{library}"), params)
    except (runner.Failure, UserError) as exc:
        pytest.fail(f"{library}: the plugin could not train: {exc}", pytrace=False)


@pytest.mark.parametrize("name", list(runner.CHECKS))
def test_conformance(trial, name):
    try:
        runner.CHECKS[name](trial)
    except runner.Failure as exc:
        pytest.fail(f"{trial.library}: {exc}", pytrace=False)
