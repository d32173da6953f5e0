"""fastai's ClassificationInterpretation on the validation set, saved for the memoir: the most
confused class pairs and the top losses with their image paths (from the split manifest)."""

from __future__ import annotations

import csv

from fastai.interpret import ClassificationInterpretation

from dlcompare.glossary import MANIFEST

TOP_LOSSES = 9


def manifest_paths(split_dir, split: str) -> list[str]:
    """Image paths of one split, in manifest row order (the order of the cached arrays)."""
    with open(split_dir / MANIFEST, newline="", encoding="utf-8") as fh:
        return [row["path"] for row in csv.DictReader(fh) if row["split"] == split]


def interpretation(learn, dl, probs, targets, losses, source, split_dir, k: int = TOP_LOSSES) -> dict:
    """most_confused pairs and the ``k`` largest validation losses, with image paths.

    ``probs``, ``targets`` and ``losses`` come from one ``get_preds(dl=dl, with_loss=True)``.
    """
    interp = ClassificationInterpretation(learn, dl, losses)
    paths = manifest_paths(split_dir, "valid")
    rows = []
    for loss, i in zip(*(t.tolist() for t in interp.top_losses(min(k, len(losses)), items=False))):
        split, row = source.locate(dl.items[i])
        rows.append({"path": paths[row], "row": row, "actual": interp.vocab[int(targets[i])],
                     "predicted": interp.vocab[int(probs[i].argmax())], "loss": loss})
    confused = [{"actual": a, "predicted": p, "count": int(n)} for a, p, n in interp.most_confused(min_val=1)]
    return {"split": "valid", "most_confused": confused, "top_losses": rows}
