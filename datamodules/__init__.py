"""Data for zero-shot anomaly detection: the 14 benchmark datasets read in their native layouts.

    files -> samples table (readers) -> Item (dataset: decode + resize) -> Batch (collate) -> model

    from datamodules import read_samples, AnomalyDataModule
    samples = read_samples("mvtec", "/data/mvtec")            # one row per test image, absolute paths
    data = AnomalyDataModule(train_sets=[{"name": "mvtec", "format": "mvtec", "root": "/data/mvtec"}],
                             test_sets=[{"name": "visa", "format": "visa", "root": "/data/VisA_20220922"}])
"""

from datamodules.batch import Batch, Item, collate
from datamodules.datamodule import AnomalyDataModule
from datamodules.dataset import AnomalyDataset
from datamodules.errors import DatasetLayoutError
from datamodules.few_shot import FewShot
from datamodules.readers import FORMATS, read_samples
from datamodules.sampler import NonRepeatingDistributedSampler, StableShardSampler
from datamodules.spec import DatasetSpec
from datamodules.summary import summarize
from datamodules.synthetic import make_synthetic_dataset

__all__ = [
    "FORMATS",
    "AnomalyDataModule",
    "AnomalyDataset",
    "Batch",
    "DatasetLayoutError",
    "DatasetSpec",
    "FewShot",
    "Item",
    "NonRepeatingDistributedSampler",
    "StableShardSampler",
    "collate",
    "make_synthetic_dataset",
    "read_samples",
    "summarize",
]
