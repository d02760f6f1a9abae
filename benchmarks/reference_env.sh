#!/usr/bin/env bash
# A Python environment for the reference repository's TIPS test path, for benchmarks/whole_test.py.
#
#   bash benchmarks/reference_env.sh ENV_DIR
#   python benchmarks/whole_test.py --reference CHECKOUT --reference-python ENV_DIR/bin/python
#
# CHECKOUT is a clone of AlirezaSalehy/Tipsomaly. The packages are those its test.py imports on the TIPS path,
# with its own pins where a newer release breaks it: transformers 5.0.0 (its SigLIP module imports names that
# later releases removed) and pillow 11.3.0 (its dataset builds an 'L' image from a float array, which later
# releases refuse). torch is the same version as this project's, so both sides run the same kernels.
set -euo pipefail
env_dir=${1:?usage: bash benchmarks/reference_env.sh ENV_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
torch_version=$("$here/.venv/bin/python" -c "import torch; print(torch.__version__.split('+')[0])")
vision_version=$("$here/.venv/bin/python" -c "import torchvision; print(torchvision.__version__.split('+')[0])")
python3 -m venv "$env_dir"
"$env_dir/bin/pip" install --quiet "torch==$torch_version" "torchvision==$vision_version" torchmetrics numpy scipy \
  "pillow==11.3.0" pandas tqdm sentencepiece "transformers==5.0.0" scikit-learn scikit-image jax humanhash3 tabulate \
  opencv-python-headless matplotlib
echo "reference environment ready: $env_dir/bin/python"
