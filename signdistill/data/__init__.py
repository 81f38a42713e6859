"""Data: manifests, corpora, vocabulary, normalizer, dataset and samplers.

The dataset, its collate function and the sampler need torch and are imported on first
use, so manifests, feature files, the vocabulary and the normalizer can be read without
torch (``signdistill transcribe`` with an ONNX export).
"""

from typing import TYPE_CHECKING, Any

from signdistill.data.manifest import Utterance, load_features, min_ctc_frames, read_manifest, write_manifest
from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary

if TYPE_CHECKING:
    from signdistill.data.dataset import Batch, BucketBatchSampler, SignDataset, collate

_NEED_TORCH = ("Batch", "BucketBatchSampler", "SignDataset", "collate")


def __getattr__(name: str) -> Any:
    if name in _NEED_TORCH:
        from signdistill.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Batch",
    "BucketBatchSampler",
    "Normalizer",
    "SignDataset",
    "Utterance",
    "Vocabulary",
    "collate",
    "load_features",
    "min_ctc_frames",
    "read_manifest",
    "write_manifest",
]
