"""tipsomaly's models: the frozen TIPS backbone, the Tipsomaly method and its metrics.

Names are imported on first use, so `import lightning_modules.metrics` does not load TIPS.
"""

import importlib

_EXPORTS = {
    "Detector": "lightning_modules.deploy",
    "Tipsomaly": "lightning_modules.tipsomaly",
    "TipsSpec": "lightning_modules.tips",
    "load_tips": "lightning_modules.tips",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lightning_modules' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
