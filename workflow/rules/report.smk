# The memoir: renders whatever runs exist (snakemake --keep-going still yields a memoir).


rule report:
    input:
        "results/cleaning.json",
        "results/split.json",
        G.SPLIT_DIR,
        run_files(G.HISTORY),
        run_files(G.RUN_INFO),
        run_files(G.METRICS),
        [G.settings_file(entry) for entry in ENTRIES],
        # What the memoir is made from besides the runs: templates, their translations, course
        # tables, the thesis's published values, and the code that renders it (as dvc.yaml's deps).
        "reports/templates",
        "reports/i18n",
        "reports/courses",
        "reports/reference",
        "workflow/dlcompare/report",
    output:
        report(directory(G.REPORT_DIR), patterns=["memoir.{ext}"], caption="../../reports/caption.rst",
               category="Memoir"),
    params:
        p=section("report", "train"),
    log:
        "logs/report.log",
    message:
        "Rendering the memoir (LaTeX/PDF and HTML) into {output}"
    conda:
        "../../environment.yml"
    shell:
        dlcompare("report") + " > {log} 2>&1"
