"""The plugin kit, what every plugin shares: the Ledger (checkpoints, resume, history, throughput,
run.json), measures (loss/accuracy, versions, memory), learning-rate groups, pretrained-weight
caches, torch runtime settings. Plugins import it through ``dlcompare``."""
