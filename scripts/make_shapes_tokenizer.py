"""Trains the shapes demo's tokenizer (configs/shapes_tokenizer.json).

A byte-level BPE (GPT-2 style pre-tokenizer, so any UTF-8 text encodes) with
a small vocabulary learned from the shapes world's English and Russian texts,
plus the special tokens the demo needs: <|endoftext|> (eos), <pad>, the
chatml markers <|im_start|> / <|im_end|> and <image>.

Usage (from the repo root, after building vlmc):
    ./build/vlmc prepare --format shapes --out /tmp/shapes-tok --samples 4000
    /work/main/.venv/bin/python scripts/make_shapes_tokenizer.py /tmp/shapes-tok configs/shapes_tokenizer.json
The corpus is every text member of the shards (captions, questions, answers,
chats, documents, preference pairs), so the result is a pure function of the
shards (tokenizers' BPE trainer is deterministic for a fixed input order).
"""
import glob
import json
import sys
import tarfile

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIALS = ["<|endoftext|>", "<pad>", "<|im_start|>", "<|im_end|>", "<image>"]


def texts_of(obj):
    if isinstance(obj, str):
        yield obj.replace("<image>", "")
    elif isinstance(obj, list):
        for x in obj:
            yield from texts_of(x)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k not in ("images", "type", "lang", "answer_index", "text_only", "caption"):  # caption: heldout scene, for error analysis
                yield from texts_of(v)


def corpus(folder):
    for path in sorted(glob.glob(folder + "/*.tar")):
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                if m.name.endswith(".txt"):
                    yield tf.extractfile(m).read().decode()
                elif m.name.endswith(".json"):
                    yield from texts_of(json.loads(tf.extractfile(m).read()))
    # chat scaffolding the template adds around messages
    yield from ["user\n", "assistant\n", "system\n", "\n"]


def main():
    folder, out = sys.argv[1], sys.argv[2]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=640, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(folder), trainer=trainer)
    tok.save(out)
    t = Tokenizer.from_file(out)
    for s in ["What colour is the object at the top right?", "Какого цвета объект вверху справа?"]:
        print(len(t.encode(s).ids), t.encode(s).tokens)
    print("vocab", t.get_vocab_size())


if __name__ == "__main__":
    main()
