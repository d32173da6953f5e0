"""The conformance suite any plugin package can run against itself.

    dlcompare check-plugin NAME [--arch ARCH]
    DLCOMPARE_CHECK_PLUGIN=NAME pytest --pyargs dlcompare.conformance
    pytest -p dlcompare.conformance.pytest_plugin --pyargs dlcompare.conformance \
        --dlcompare-plugin NAME [--dlcompare-arch ARCH] [--dlcompare-params FILE]

It trains two tiny CPU runs (each in its own `dlcompare train` process) on a synthetic split and
checks the run contract: every artifact and its format, both phases in the history, probability
rows in manifest order, and identical results for the same seed. See runner.py.
"""
