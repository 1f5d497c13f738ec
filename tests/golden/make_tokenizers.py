#!/usr/bin/env python3
"""tests/golden/make_tokenizers.py — goldens for the C tokenizer (data/tok_*.c).

Trains small BPE tokenizers with the Hugging Face `tokenizers` library, one per
family vlmc users train on, on a deterministic synthetic mixed corpus (English,
Russian, Chinese, code, emoji, whitespace runs; seed 1), then writes reference
encodings for a *different* test corpus (seed 2, >= 1 MB) and edge cases:

  tests/golden/tok/corpus.txt        the test corpus: records (each ends in a newline; may hold more)
  tests/golden/tok/corpus.idx        u32 LE byte length of each record
  tests/golden/tok/FAMILY.json       the tokenizer.json
  tests/golden/tok/FAMILY.lines.bin  per corpus line: u32 ntok, u64 fnv1a(ids as int32 LE),
                                     u64 fnv1a(decode(ids) UTF-8)   (little endian, packed)
                                     encoded with add_special_tokens=True
  tests/golden/tok/FAMILY.edge.json  [{text, ids, ids_nospecial, decoded, decoded_skip}]; null = same as
                                     the field before (ids / text / decoded)
  tests/golden/tok/chat.json         chat-template renderings (ids + assistant mask)
                                     from transformers.apply_chat_template

Families: gpt2 (SmolLM2 style: ByteLevel regex, merges written as "a b"),
llama3 (Split Llama 3 regex + ByteLevel, ignore_merges, BOS template),
qwen2 (NFC + Split Qwen2 regex + ByteLevel), llama2 (SentencePiece-style BPE,
byte_fallback, Prepend+Replace normalizers, no pre-tokenizer, BOS template),
mistral (same model, Metaspace(prepend_scheme=first) pre-tokenizer).

Run: /work/main/.venv/bin/python tests/golden/make_tokenizers.py
"""
import json
import os
import random
import struct

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tok")

GPT2_RE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_RE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
             r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN2_RE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
            r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

# ---------------------------------------------------------------- corpus ----
EN = ("the of and to in is you that it he was for on are as with his they at be this have from or one had by "
      "word but not what all were we when your can said there use an each which she do how their if will up "
      "other about out many then them these so some her would make like him into time has look two more write "
      "go see number no way could people my than first water been call who oil its now find long down day did "
      "get come made may part over new sound take only little work know place year live me back give most very "
      "after thing our just name good sentence man think say great where help through much before line right "
      "too mean old any same tell boy follow came want show also around form three small set put end does "
      "another well large must big even such because turn here why ask went men read need land different home "
      "us move try kind hand picture again change off play spell air away animal house point page letter mother "
      "answer found study still learn should America world model vision language image encoder training loss "
      "gradient tokenizer").split()
EN_CONTR = ["don't", "it's", "they'll", "I'M", "we've", "she'd", "you're", "WE'LL", "can't", "It'S", "o'clock"]
RU = ("и в не на я быть он с что а по это она этот к но они мы как из у который то за свой что весь год от так "
      "о для ты же все тот мочь вы человек такой его сказать только или ещё бы себя один как уже до время если "
      "сам когда другой вот говорить наш мой знать стать при чтобы дело жизнь кто первый очень два день её "
      "новый рука даже во со раз где там под можно ну какой после их работа без самый потом надо хотеть ли "
      "слово идти большой должен место иметь ничто модель обучение изображение токенизатор Москва Россия "
      "Привет ЗДРАВСТВУЙТЕ ёлка Ёж").split()
ZH = ("的 一 是 不 了 人 我 在 有 他 这 中 大 来 上 国 个 到 说 们 为 子 和 你 地 出 道 也 时 年 得 就 那 要 下 以 生 会 "
      "自 着 去 之 过 家 学 对 可 她 里 后 小 么 心 多 天 而 能 好 都 然 没 日 于 起 还 发 成 事 只 作 当 想 看 文 无 "
      "开 手 十 用 主 行 方 又 如 前 所 本 见 经 头 面 公 同 三 已 老 从 动 两 长 模型 训练 图像 语言 数据 北京 "
      "中国人 学习 计算机 深度学习 龘 𠀋 𪚥").split()
ZH_PUNCT = ["，", "。", "！", "？", "、", "：", "（", "）", "《", "》", "“", "”"]
EMOJI = ["😀", "😂", "🥲", "👍", "👍🏽", "❤️", "🔥", "🚀", "🎉", "👨‍👩‍👧‍👦", "🇷🇺", "🇨🇳", "🇺🇸", "🤖", "✨", "☕", "🐍",
         "🦀", "🧑🏿‍💻", "⭐"]
PUNCT = [".", ",", "!", "?", ";", ":", "...", " - ", " — ", "(", ")", "\"", "'", "«", "»", "/", "%", "$", "#", "@"]
WS = ["  ", "   ", "\t", "\t\t", "    ", " \t ", "\u00a0", "\u3000", "        ", "\u2003", " \n ", "\r\n", "\n\n"]
ODD = ["é", "e\u0301", "ﬁ", "Å", "Ω", "½", "²", "①", "Ⅻ", "\ufffd", "ß", "ǅ", "İ", "ſ", "\u200b", "\u2028", "\x0b",
       "\x0c", "\x85", "Ǆ", "ﾃｽﾄ", "ｱ", "٣٤٥", "१२३", "Ⅳ", "ö", "ñ", "Ç", "'S", "'LL"]
SPECIALS = ["<|im_end|>", "<image>", " <mask> ", "[R]  ", "xyzzy", " xyzzy ", "xyzzyq", "<s>", "</s>", "<0x41>",
            "<|endoftext|>", "<|eot_id|>", "<|begin_of_text|>"]
CODE_IDS = ["x", "y", "i", "n", "buf", "len", "self", "ctx", "tok", "ids", "data", "out", "st", "arr", "key",
            "value", "result", "count", "path", "name"]


def sentence(rng, words, cap=True, sep=" "):
    n = rng.randint(3, 14)
    ws = [rng.choice(words) for _ in range(n)]
    if words is EN and rng.random() < 0.5:
        ws[rng.randrange(n)] = rng.choice(EN_CONTR)
    if cap and ws[0][:1].isalpha():
        ws[0] = ws[0][:1].upper() + ws[0][1:]
    if rng.random() < 0.1:
        ws = [w.upper() for w in ws]
    s = sep.join(ws)
    if words is ZH:
        return s + rng.choice(ZH_PUNCT)
    return s + rng.choice([".", ".", "!", "?", ",", ":", "..."])


def code(rng):
    a, b = rng.choice(CODE_IDS), rng.choice(CODE_IDS)
    num = rng.choice([str(rng.randint(0, 99999)), f"{rng.random():.4f}", hex(rng.randint(0, 1 << 32)), "1e-6"])
    ind = rng.choice(["", "    ", "        ", "\t", "\t\t", "  "])
    forms = [
        f"{ind}def {a}_{b}({a}, {b}={num}):",
        f"{ind}for (int {a} = 0; {a} < {b}->n; {a}++) {{ {b}[{a}] += {num}; }}",
        f"{ind}if ({a} != NULL && {b}.len >= {num}) return -1;",
        f"{ind}{a} = [{b} ** 2 for {b} in range({num})]  # comment: {rng.choice(EN)}",
        f"{ind}const char *{a} = \"{rng.choice(EN)}\\n\"; // {rng.choice(RU)}",
        f"{ind}return {a}.{b}({num}).map(|x| x * 2).collect::<Vec<_>>();",
        f"{ind}{{\"{a}\": {num}, \"{b}\": [1, 2, 3], \"ok\": true}}",
        f"{ind}<div class=\"{a}\">{rng.choice(EN)}</div>",
        f"{ind}SELECT {a}, COUNT(*) FROM {b} WHERE {a} > {num};",
    ]
    return rng.choice(forms)


def fragment(rng):
    r = rng.random()
    if r < 0.30:
        return sentence(rng, EN)
    if r < 0.50:
        return sentence(rng, RU)
    if r < 0.65:
        return sentence(rng, ZH, sep=rng.choice(["", "", " "]))
    if r < 0.78:
        return code(rng)
    if r < 0.84:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4)))
    if r < 0.89:
        return " ".join(str(rng.randint(0, 10 ** rng.randint(1, 9))) for _ in range(rng.randint(1, 4)))
    if r < 0.94:
        return rng.choice(ODD) + rng.choice(EN) + rng.choice(ODD)
    if r < 0.97:
        return rng.choice(SPECIALS)
    if r < 0.985:   # long-ish words
        return rng.choice(EN) * rng.randint(5, 60)
    return rng.choice(PUNCT) * rng.randint(2, 8)


def line(rng):
    parts = []
    for _ in range(rng.randint(1, 12)):
        parts.append(fragment(rng))
        parts.append(rng.choice(WS) if rng.random() < 0.15 else rng.choice([" ", " ", " ", "", rng.choice(PUNCT)]))
    s = "".join(parts)
    if rng.random() < 0.05:
        s = rng.choice(WS) + s
    return s + ("\r\n" if rng.random() < 0.1 else "\n")


def corpus(seed, nbytes):
    rng = random.Random(seed)
    out, n = [], 0
    while n < nbytes:
        s = line(rng)
        out.append(s)
        n += len(s.encode())
    return out


# ------------------------------------------------------------- training ----
def added_tokens(tok):
    """Special and non-special added tokens with the flags the C side must honour."""
    tok.add_special_tokens([AddedToken("<image>", special=True, normalized=False),
                            AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    tok.add_tokens([AddedToken("[R]", rstrip=True, normalized=False),
                    AddedToken("xyzzy", single_word=True, normalized=True)])


def train_bytelevel(name, train, regex, nfc, bos, ignore_merges, vocab):
    tok = Tokenizer(models.BPE())
    if nfc:
        tok.normalizer = normalizers.NFC()
    if regex is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = {"gpt2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                           "<|eot_id|>"]}[name]
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(train, trainer)
    if bos:
        bos_id = tok.token_to_id(bos)
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                          special_tokens=[(bos, bos_id)])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    added_tokens(tok)
    j = json.loads(tok.to_str())
    if ignore_merges:
        j["model"]["ignore_merges"] = True
    if name == "gpt2":   # the older "a b" merges form (tokens never contain a space: bytes map to Ġ etc.)
        j["model"]["merges"] = [" ".join(m) for m in j["model"]["merges"]]
    return Tokenizer.from_str(json.dumps(j)), j


def train_sentencepiece(train, vocab):
    """SentencePiece-style BPE (Llama 2 / Mistral): ▁ for spaces, byte fallback, <unk>/<s>/</s>."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # train with a Metaspace split so merges stay inside words (as sentencepiece does); the shipped
    # llama2 file has no pre-tokenizer, exactly like Llama 2's tokenizer.json
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    byte_toks = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<unk>", "<s>", "</s>"] + byte_toks,
                                  limit_alphabet=150, show_progress=False)
    tok.train_from_iterator(train, trainer)
    j = json.loads(tok.to_str())
    # byte tokens are plain vocab entries in Llama 2, not added tokens
    j["added_tokens"] = [a for a in j["added_tokens"] if a["content"] not in byte_toks]
    j["pre_tokenizer"] = None
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    j["post_processor"] = json.loads(processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]).__getstate__())
    llama2 = Tokenizer.from_str(json.dumps(j))
    added_tokens(llama2)
    j2 = json.loads(llama2.to_str())
    # Mistral / newer Llama: no normalizer, Metaspace(prepend_scheme=first, split=false), Metaspace decoder
    m = json.loads(json.dumps(j2))
    m["normalizer"] = None
    m["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    m["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    mistral = Tokenizer.from_str(json.dumps(m))
    return (llama2, j2), (mistral, m)


# --------------------------------------------------------------- goldens ----
def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


EDGE = ["", "\ufffd", "a\ufffdb", "\r\n", "\r\n\r\n  \r\n", "x" * 2000, "hello" * 400, " " * 100, "\t\t\n\n",
        " leading space", "trailing   ", "Hi<|im_end|>there", "<|im_end|><|im_end|>", "a <mask> b", "a<mask>b",
        "  <mask>", "a [R]  b", "[R]\n\nz", "xyzzy xyzzyq _xyzzy xyzzy. (xyzzy)", "xyzzy", "<0x41><s></s>",
        "<image><image>\nDescribe.", "e\u0301 ﬁ Å ½ ǅ", "I'M HERE, it'S ſ", "Привет, мир!", "你好，世界。",
        "👨‍👩‍👧‍👦🇷🇺", "𠀋𪚥龘", "int main() {\n\treturn 0;\n}\n", "1234567890 3.14159", "\u00a0\u3000\u2003x",
        "<|begin_of_text|>hi<|eot_id|>", "a\x00b", "\x85\u2028\x0b",
        # found by tests/golden/fuzz_tokenizers.py: U+180E is not \s for Oniguruma; single_word's \w
        # includes marks and joiners but not No
        "a\u180e's b", " \u180e\u205f  x\u180e", "xyzzy\u0301 xyzzy\u200d xyzzy\u00b2 xyzzy\u2163 _xyzzy"]


def write_goldens(name, tok, j, test_lines):
    with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)
    # reload from the written file: the goldens are what *that file* produces
    tok = Tokenizer.from_file(os.path.join(OUT, f"{name}.json"))
    encs = tok.encode_batch(test_lines, add_special_tokens=True)
    rec = bytearray()
    for e in encs:
        ids = e.ids
        dec = tok.decode(ids, skip_special_tokens=False)
        rec += struct.pack("<IQQ", len(ids), fnv1a(struct.pack(f"<{len(ids)}i", *ids)), fnv1a(dec.encode()))
    with open(os.path.join(OUT, f"{name}.lines.bin"), "wb") as f:
        f.write(rec)
    edge = []
    for s in EDGE:
        a = tok.encode(s, add_special_tokens=True).ids
        b = tok.encode(s, add_special_tokens=False).ids
        d = tok.decode(a, skip_special_tokens=False)
        ds = tok.decode(a, skip_special_tokens=True)
        # null = same as the field before (keeps the files small)
        edge.append({"text": s, "ids": a, "ids_nospecial": None if b == a else b, "decoded": None if d == s else d,
                     "decoded_skip": None if ds == d else ds})
    with open(os.path.join(OUT, f"{name}.edge.json"), "w", encoding="utf-8") as f:
        json.dump(edge, f, ensure_ascii=False)
    ntok = sum(len(e.ids) for e in encs)
    print(f"{name}: vocab {tok.get_vocab_size()}, {len(test_lines)} lines, {ntok} tokens")


def write_variants(gpt2, sp, test):
    """The other components, on the trained models: variants of the gpt2 and SentencePiece files."""
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    v = {
        # NFKC + Lowercase + Strip + regex Replace; Digits, literal Split merged with the previous piece
        "var_a": (gpt2, {"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": "\\s{2,}"}, "content": "  "}]},
            {"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
                dict(bl, add_prefix_space=True)]}),
        # NFD; whitespace removed; punctuation runs contiguous; inverted split
        "var_b": (gpt2, {"type": "NFD"}, {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Split", "pattern": {"Regex": "[,.!?]"}, "behavior": "Contiguous", "invert": False},
            {"type": "Split", "pattern": {"Regex": "\\p{L}+"}, "behavior": "MergedWithNext", "invert": True},
            bl]}),
        # NFKD; Whitespace (\w+|[^\w\s]+), Digits contiguous, Removed behaviour
        "var_c": (gpt2, {"type": "NFKD"}, {"type": "Sequence", "pretokenizers": [
            {"type": "Whitespace"}, {"type": "Digits", "individual_digits": False},
            {"type": "Split", "pattern": {"String": "e"}, "behavior": "Removed", "invert": False}, bl]}),
        # Metaspace split=true, prepend always (older SentencePiece conversions)
        "var_d": (sp, None, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}),
    }
    for name, (base, norm, pre) in v.items():
        j = json.loads(json.dumps(base))
        j["normalizer"] = norm
        j["pre_tokenizer"] = pre
        if name == "var_d":
            j["decoder"] = {"type": "Sequence", "decoders": [
                {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
                {"type": "ByteFallback"}, {"type": "Fuse"}]}
        write_goldens(name, Tokenizer.from_str(json.dumps(j)), j, test)


def main():
    os.makedirs(OUT, exist_ok=True)
    # "xyzzy" (a normalized, single_word added token) stays out of the trained vocabulary, so the
    # added token owns its id as in real tokenizers
    train = [s.replace("xyzzy", "xyzy") for s in corpus(1, 1_500_000)]
    test = corpus(2, 1_050_000)
    with open(os.path.join(OUT, "corpus.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("".join(test))
    with open(os.path.join(OUT, "corpus.idx"), "wb") as f:   # record byte lengths (records may contain "\n")
        f.write(b"".join(struct.pack("<I", len(s.encode())) for s in test))
    for name, regex, nfc, bos, ign in [("gpt2", None, False, None, False),
                                       ("llama3", LLAMA3_RE, False, "<|begin_of_text|>", True),
                                       ("qwen2", QWEN2_RE, True, None, False)]:
        tok, j = train_bytelevel(name, train, regex, nfc, bos, ign, 3000 if name != "gpt2" else 2000)
        write_goldens(name, tok, j, test)
    (l2, j2), (mi, jm) = train_sentencepiece(train, 2500)
    write_goldens("llama2", l2, j2, test)
    write_goldens("mistral", mi, jm, test)
    write_variants(json.loads(open(os.path.join(OUT, "gpt2.json"), encoding="utf-8").read()), jm, test)
    import make_chat_goldens  # noqa: E402  (same folder) chat templates on the tokenizers just written
    make_chat_goldens.main(OUT)


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
