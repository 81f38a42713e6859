"""Data: manifests, corpora, vocabulary, normalizer, dataset and samplers."""

from signdistill.data.dataset import Batch, BucketBatchSampler, SignDataset, collate
from signdistill.data.manifest import Utterance, load_features, min_ctc_frames, read_manifest, write_manifest
from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary

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
