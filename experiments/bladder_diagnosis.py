"""Why no bladder run predicted tumour (experiments/round4.md): the data, the folds, the slices and patches the
training recipe draws, and what the checkpoint-selection metric gives a model that never predicts tumour.

    python3 experiments/bladder_diagnosis.py [--data-root ../shared/data/BladderMRI]

Reads labels only (no model); prints the facts round4.md quotes.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akmamba.data.dataset import LoadedSample, PatchDataset, class_repeats
from akmamba.data.splits import kfold_by_case
from akmamba.io import builtin_description, load_sample, pair_files

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "BladderMRI"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=DEFAULT_ROOT)
    p.add_argument("--samples-per-epoch", type=int, default=400, help="round-2 recipe: 400")
    p.add_argument("--patch", type=int, default=256, help="round-2 recipe: 256")
    args = p.parse_args(argv)
    desc = builtin_description("bladder")
    samples = pair_files(desc, args.data_root)
    raw_values = collections.Counter(tuple(np.unique(np.asarray(PILImage.open(s.label))).tolist()) for s in samples)
    labels = [load_sample(s, desc)[1] for s in samples]
    print(f"{len(samples)} slices; raw label value sets: {dict(raw_values)}")
    tumour = np.array([bool((lab == 2).any()) for lab in labels])
    px = sum(np.bincount(lab.ravel(), minlength=3) for lab in labels)
    print(f"slices with tumour {tumour.sum()}; pixel shares background/wall/tumour "
          f"{', '.join(f'{v:.4%}' for v in px / px.sum())}")
    case_ids = [s.case_id for s in samples]
    for fold in range(3):
        train, val = kfold_by_case(list(range(len(samples))), case_ids, 3, fold, seed=0)
        val_cases = sorted({case_ids[i] for i in val}, key=int)
        no_tumour = 1 - tumour[val].mean()
        loaded = [LoadedSample(np.zeros((1, *labels[i].shape), np.float32), labels[i], None, case_ids[i], str(i))
                  for i in train]
        order = [train[i] for i in range(len(train))]
        old_drawn = {order[i % len(order)] for i in range(args.samples_per_epoch)}  # the sampler before the fix
        never = sorted({case_ids[i] for i in set(train) - old_drawn}, key=int)
        print(f"fold {fold}: validation cases {val_cases}, {len(val)} slices, {tumour[val].sum()} with tumour; "
              f"a model predicting no tumour scores per-slice tumour Dice {no_tumour:.1%}, pooled 0 | "
              f"training {len(train)} slices ({tumour[train].sum()} with tumour); old sampler drew "
              f"{len(old_drawn)} of them, never {len(train) - len(old_drawn)} slices "
              f"({int(tumour[sorted(set(train) - old_drawn)].sum())} with tumour) of cases {never}")
        if fold == 0:
            for name, repeats in (("fixed sampler", None), ("oversample tumour x3", class_repeats(loaded, 2, 3))):
                ds = PatchDataset(loaded, (args.patch, args.patch), args.samples_per_epoch, 0, True, 0.8, repeats)
                patches, slices, pix = 0, 0, np.zeros(3)
                for e in range(2):
                    ds.set_epoch(e)
                    for i in range(len(ds)):
                        lab = ds[i][1].numpy()
                        patches += bool((lab == 2).any())
                        slices += bool((ds.samples[ds.sample_index(i)].label == 2).any())
                        pix += np.bincount(lab.ravel(), minlength=3)
                n = 2 * len(ds)
                print(f"  fold 0, {name}, {args.patch}x{args.patch} patches, 80 % foreground-centred: slices with "
                      f"tumour {slices / n:.1%} of draws, patches holding tumour {patches / n:.1%}, tumour pixel "
                      f"share {pix[2] / pix.sum():.2%}")


if __name__ == "__main__":
    main()
