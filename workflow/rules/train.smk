# One training job per (library, arch, seed), lists from params.yaml train.*; each job is its own
# process (TensorFlow keeps GPU memory for the life of a process).

rule train:
    input:
        G.SPLIT_DIR,
    output:
        [f"{RUN}/{name}" for name in RUN_OUTPUTS],
    params:
        p=lambda w: section("train.device", "train.pretrained", "train.batch_size", "train.threads",
                            w.library),
    log:
        "logs/train/{library}/{arch}/seed{seed}.log",
    message:
        "Training {wildcards.library} {wildcards.arch} seed {wildcards.seed}"
    threads: TRAIN["threads"]
    resources:
        gpu=GPU_PER_JOB,
    conda:
        "../../environment.yml"
    shell:
        dlcompare("train --library {wildcards.library} --arch {wildcards.arch} --seed {wildcards.seed}")
        + " > {log} 2>&1"
