# Per entry, its settings file; then one training job per (entry, arch, seed), lists from params.yaml
# train.*; each job is its own process (TensorFlow keeps GPU memory for the life of a process).
# `train`/`settings` serve train.libraries, `train_variant`/`settings_variant` train.variants.
# Resolving settings takes a second: on a cluster it runs beside Snakemake, not as a batch job.

localrules:
    settings,
    settings_variant,


rule settings:
    output:
        G.settings_file("{entry}"),
    params:
        resolved=lambda w: SETTINGS[w.entry],
    log:
        "logs/settings/{entry}.log",
    message:
        "Resolving the settings of {wildcards.entry}"
    wildcard_constraints:
        entry=one_of(LIBRARIES),
    resources:
        gpu=0,
    conda:
        "../../environment.yml"
    shell:
        dlcompare("settings --entry {wildcards.entry}") + " > {log} 2>&1"


use rule settings as settings_variant with:
    wildcard_constraints:
        entry=one_of(VARIANTS),


rule train:
    input:
        G.SPLIT_DIR,
        G.settings_file("{entry}"),
    output:
        [f"{RUN}/{name}" for name in RUN_OUTPUTS],
    params:
        p=section("train.device", "train.pretrained", "train.batch_size", "train.threads",
                  "train.precision", "train.workers", "train.autotune"),
    log:
        "logs/train/{entry}/{arch}/seed{seed}.log",
    message:
        "Training {wildcards.entry} {wildcards.arch} seed {wildcards.seed}"
    wildcard_constraints:
        entry=one_of(LIBRARIES),
    threads: TRAIN["threads"]
    resources:
        gpu=GPU_PER_JOB,
    conda:
        "../../environment.yml"
    shell:
        dlcompare("train --entry {wildcards.entry} --arch {wildcards.arch} --seed {wildcards.seed}")
        + " > {log} 2>&1"


use rule train as train_variant with:
    wildcard_constraints:
        entry=one_of(VARIANTS),
