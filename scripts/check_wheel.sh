#!/usr/bin/env bash
# A wheel install (not editable) carries the shipped models and dataset descriptions: build the wheel from this
# checkout, install it into a brand-new venv (torch==2.13.0 first, as the README says), and from a folder outside
# the checkout run `akmamba models` (the four shipped models must be listed) and a one-image `akmamba predict` with
# the shipped akmamba-drive model on the demo generator's synthetic fundus image (akmamba/demo.py).
#
#   scripts/check_wheel.sh            (used by .ci/run; needs network or a pip cache for the dependencies)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

# the checkout's files (tracked, and untracked ones git does not ignore), so the build leaves nothing in the repo
mkdir -p "$WORK/src"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
    | xargs -0 cp --parents -t "$WORK/src")
python3 -m pip wheel --quiet --no-deps -w "$WORK/dist" "$WORK/src"
WHEEL=$(ls "$WORK"/dist/akmamba-*.whl)
python3 - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
models = [n for n in names if n.startswith("akmamba/resources/models/") and n.endswith(".safetensors")]
datasets = [n for n in names if n.startswith("akmamba/resources/datasets/") and n.endswith(".json")]
print(f"wheel: {len(models)} models, {len(datasets)} dataset descriptions")
assert len(models) >= 4 and len(datasets) >= 2, names
PY

python3 -m venv "$WORK/venv"
V="$WORK/venv/bin"
"$V/python" -m pip install --quiet torch==2.13.0
"$V/python" -m pip install --quiet "$WHEEL"
cd "$WORK"   # not the checkout: the package must come from the wheel
"$V/python" -c "import akmamba, sys; f = akmamba.__file__; print('akmamba from', f); \
sys.exit(0 if f.startswith('$WORK/venv/') else 'akmamba was not imported from the new venv')"
"$V/akmamba" models | tee models.txt
for m in akmamba-drive unet-drive akmamba-bladder unet-bladder; do
    grep -q "$m" models.txt || { echo "FAIL: akmamba models does not list $m"; exit 1; }
done
"$V/python" -c "from akmamba.demo import write_demo; write_demo('demo')"
"$V/akmamba" predict --model akmamba-drive --device cpu --out pred demo/fundus_demo.png
ls pred
"$V/python" - <<'PY'
import numpy as np
from PIL import Image
from pathlib import Path
out = [p for p in Path("pred").glob("fundus_demo*.png")]
assert out, list(Path("pred").iterdir())
labels = np.asarray(Image.open(out[0]))
print(f"predicted {out[0].name}: shape {labels.shape}, classes {sorted(np.unique(labels).tolist())}, "
      f"vessel fraction {float((labels == 1).mean()):.3f}")
assert labels.shape[:2] == (512, 512) and 0.01 < (labels == 1).mean() < 0.5
PY
echo "OK: the wheel carries the models; akmamba models and akmamba predict work from it ($((SECONDS - start)) s)"
