"""Command-line options for the conformance suite, an alternative to its environment variables.

pytest reads options before it imports a ``--pyargs`` package, so load this plugin explicitly:

    pytest -p dlcompare.conformance.pytest_plugin --pyargs dlcompare.conformance --dlcompare-plugin NAME
"""

from dlcompare.conformance.runner import ENV_ARCH, ENV_PARAMS, ENV_PLUGIN


def pytest_addoption(parser):
    group = parser.getgroup("dlcompare", "dlcompare plugin conformance")
    group.addoption("--dlcompare-plugin", metavar="NAME",
                    help=f"plugin to check (or set {ENV_PLUGIN})")
    group.addoption("--dlcompare-arch", metavar="ARCH",
                    help=f"architecture to train (or set {ENV_ARCH}; default: resnet18 if the "
                         "plugin has it, else its first)")
    group.addoption("--dlcompare-params", metavar="FILE",
                    help=f"params file whose section for the plugin the tiny runs use, phases cut "
                         f"to one epoch (or set {ENV_PARAMS}; default: ./params.yaml if present)")
