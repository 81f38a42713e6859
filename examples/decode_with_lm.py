"""Beam search with a gloss language model, from Python (needs `pip install 'signdistill[lm]'`).

    python examples/decode_with_lm.py CHECKPOINT TRAIN_MANIFEST TEST_MANIFEST

Builds a 3-gram LM from the training transcripts, runs the model once over the test set,
and compares greedy decoding with beam search at a few LM weights.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

from signdistill.checkpoint import load_checkpoint
from signdistill.data import SignDataset, read_manifest
from signdistill.decoding import greedy_decode
from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig
from signdistill.decoding.lm import build_arpa
from signdistill.evaluation import word_error_rate
from signdistill.inference import predict_logits


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    checkpoint, train, test = (Path(a) for a in sys.argv[1:])
    ckpt = load_checkpoint(checkpoint)
    lm = Path(tempfile.mkdtemp()) / "lm.arpa"
    build_arpa([u.glosses for u in read_manifest(train)], lm, order=3)
    data = SignDataset(read_manifest(test), ckpt.vocab, ckpt.normalizer)
    logits = predict_logits(ckpt.model, data, batch_size=32)
    refs = [list(u.glosses) for u in data.utterances]
    greedy = [ckpt.vocab.decode(greedy_decode(x[None], torch.tensor([x.shape[0]]))[0]) for x in logits]
    print(f"greedy            WER {word_error_rate(refs, greedy).wer:6.2f}")
    log_probs = [torch.log_softmax(x, -1).numpy() for x in logits]
    for alpha in (0.0, 0.5, 1.0):
        decoder = BeamSearchDecoder(ckpt.vocab.tokens, DecoderConfig(beam_width=10, alpha=alpha, beta=1.0, lm=str(lm)))
        print(f"beam, alpha {alpha:.1f}   WER {word_error_rate(refs, [h.words for h in decoder.decode(log_probs)]).wer:6.2f}")


if __name__ == "__main__":
    main()
