# Data stages: the dataset is fetched, de-duplicated and split once; every library reads the split.


rule download:
    output:
        directory(G.RAW_DIR),
    params:
        p=section("data.dataset", "data.path", "data.url", "data.sha256", "data.kaggle_dataset",
                  "data.image_size", "data.test_fraction", "data.split_seed"),
    log:
        "logs/download.log",
    message:
        "Fetching dataset {params.p[data.dataset]} into {output}"
    resources:
        net=1,
    conda:
        "../../environment.yml"
    shell:
        dlcompare("download") + " > {log} 2>&1"


rule clean:
    input:
        G.RAW_DIR,
    output:
        directory(G.CLEAN_DIR),
        "results/cleaning.json",
    params:
        p=section("data.min_images_per_class", "data.background"),
    log:
        "logs/clean.log",
    message:
        "Cleaning {input}: duplicates, unreadable files, classes under {params.p[data.min_images_per_class]} images"
    conda:
        "../../environment.yml"
    shell:
        dlcompare("clean") + " > {log} 2>&1"


rule split:
    input:
        G.CLEAN_DIR,
    output:
        directory(G.SPLIT_DIR),
        "results/split.json",
    params:
        p=section("data.image_size", "data.valid_fraction", "data.split_seed", "data.stratify",
                  "data.test_fraction", "data.background"),
    log:
        "logs/split.log",
    message:
        "Splitting train/valid/test and caching decoded {params.p[data.image_size]} px images"
    threads: 2
    conda:
        "../../environment.yml"
    shell:
        dlcompare("split") + " > {log} 2>&1"
