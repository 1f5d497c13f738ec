#!/usr/bin/env python3
"""tests/golden/make_chat_goldens.py — chat-template goldens for data/tok_chat.c.

Called by make_tokenizers.py after the tokenizers are written. For each
built-in format, sets the model's own chat template (public Jinja strings,
written out below, with {% generation %} around what the assistant says) on
the trained tokenizer and renders conversations with transformers'
apply_chat_template(return_assistant_tokens_mask=True): ids and the
reference assistant mask go to tests/golden/tok/chat.json.

Image placeholders: a message with n images has n runs of IMAGE_SEQ_LEN
"<image>" tokens, each run followed by "\n" (LLaVA's "<image>\n"), inserted
at the message's image_at (a character offset into its text, 0 unless the
conversation gives one; chat.json stores it in UTF-8 bytes, as
TokMessage.image_at counts), or run k at image_ats[k] when the conversation
gives a list (several markers in one message: TokMessage.image_ats), as a
processor expands each marker where it stands; the `plain` format (LLaVA stage 1) renders only "<image>" runs
for the user turn, then the caption + "\n". Tagged cases (field image_tags:
the grid side) put each "<image>" after its "<row_r_col_c>" special token,
added to the tokenizer after "<image>" in that order, as vlmc's
`image_tags: grid` does (data/loader.h, ld_text_codec_tagged).
"""
import json
import os

from transformers import PreTrainedTokenizerFast

IMAGE_SEQ_LEN = 3

SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n'}}{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{% else %}"
    "{{ message['content'] + '<|im_end|>' }}{% endif %}{{ '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
QWEN2 = SMOLLM2.replace("You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                        "You are a helpful assistant.")
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}"
    "{% endgeneration %}{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
VICUNA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the human's questions.")
LLAVA_V1 = (
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set system = '" + VICUNA_SYSTEM.replace("'", "\\'") + "' %}"
    "{% set loop_messages = messages %}{% endif %}{{ bos_token + system + ' ' }}"
    "{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}"
    "{% else %}{{ 'ASSISTANT: ' }}{% generation %}{{ message['content'] + '</s>' }}{% endgeneration %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")
PLAIN = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '\n' }}{% endgeneration %}"
    "{% endif %}{% endfor %}")

# format, tokenizer family, template, bos, default system prompt the template injects
SETUPS = [("chatml", "gpt2", SMOLLM2, None, "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
          ("chatml", "qwen2", QWEN2, None, "You are a helpful assistant."),
          ("llama3", "llama3", LLAMA3, "<|begin_of_text|>", None),
          ("llava_v1", "llama2", LLAVA_V1, "<s>", VICUNA_SYSTEM),
          ("llava_v1", "mistral", LLAVA_V1, "<s>", VICUNA_SYSTEM),
          ("plain", "llama2", PLAIN, "<s>", None)]

# (role, text, n_images[, image_at or a list of one offset per image])
CONVS = [
    [("user", "Hello! How are you?", 0), ("assistant", "I'm fine, thanks. And you?", 0)],
    [("system", "You answer briefly.", 0), ("user", "What is 2+2?", 0), ("assistant", "4.", 0),
     ("user", "И по-русски?", 0), ("assistant", "Четыре.", 0), ("user", "中文呢？", 0), ("assistant", "四。\n", 0)],
    [("user", "Describe the picture.", 1), ("assistant", "A cat sits on a red sofa 🐱.", 0)],
    [("user", "Compare these two images:", 2), ("assistant", "  The first is darker;\tthe second has more trees.  ", 0),
     ("user", "Why?", 0)],
    [("system", "Ты — помощник.", 0), ("user", "  Привет,  мир  ", 1), ("assistant", "Здравствуйте! Чем помочь?", 0)],
    [("user", "def f(x):\n    return x ** 2\n\nExplain.", 0), ("assistant", "It squares x.\n\n```python\nf(3) == 9\n```", 0)],
    [("user", "What colour is the object at the top left?\n", 1, 43), ("assistant", "red", 0)],
    [("user", "Что на картинке? Ответь кратко.", 1, 16), ("assistant", "Кот.", 0)],
    [("user", "Left:  and right: . Which is bigger?", 2, [6, 18]), ("assistant", "The left one.", 0)],
    [("user", "Первая: , вторая: , третья в конце: ", 3, [8, 18, 36]), ("assistant", "Все три — кошки.", 0)],
]
# Place tags (vlmc's image_tags: grid, data/loader.h ld_text_codec_tagged): a TAG_SIDE x TAG_SIDE grid of
# placeholders, each after its "<row_r_col_c>" special token (added after "<image>", in that order)
TAG_SIDE = 2
TAG_SETUPS = [s for s in SETUPS if s[0] in ("chatml", "llama3") and s[1] != "qwen2"]
PLAIN_CONVS = [[("user", "", 1), ("assistant", "A red bus on a city street.", 0)],
               [("user", "ignored prompt", 1), ("assistant", "Два кота спят на диване.", 0)]]


def tag_names(side):
    return [f"<row_{k // side + 1}_col_{k % side + 1}>" for k in range(side * side)]


def content(fmt, text, n_images, at=0, tags=0):
    if fmt == "plain":
        return "<image>" * IMAGE_SEQ_LEN * n_images
    run = ("".join(t + "<image>" for t in tag_names(tags)) if tags else "<image>" * IMAGE_SEQ_LEN) + "\n"
    if isinstance(at, list):  # one offset per image, nondecreasing
        out, done = "", 0
        for a in at:
            out += text[done:a] + run
            done = a
        return out + text[done:]
    return text[:at] + run * n_images + text[at:]


def message_json(m):
    j = {"role": m[0], "text": m[1], "n_images": m[2], "image_at": 0}
    if len(m) > 3 and isinstance(m[3], list):
        j["image_ats"] = [len(m[1][:a].encode()) for a in m[3]]
    elif len(m) > 3:
        j["image_at"] = len(m[1][:m[3]].encode())
    return j


def main(out_dir):
    cases = []
    for tags, setups in ((0, SETUPS), (TAG_SIDE, TAG_SETUPS)):
        for fmt, fam, tmpl, bos, default_system in setups:
            tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(out_dir, f"{fam}.json"))
            if bos:
                tok.bos_token = bos
            if tags:
                tok.add_special_tokens({"additional_special_tokens": tag_names(tags)})
            tok.chat_template = tmpl
            convs = PLAIN_CONVS if fmt == "plain" else CONVS
            if tags:
                convs = [c for c in convs if any(m[2] for m in c)]
            n = tags * tags if tags else IMAGE_SEQ_LEN
            for ci, conv in enumerate(convs):
                for agp in ([False, True] if conv[-1][0] == "user" else [False]):
                    msgs = [{"role": m[0], "content": content(fmt, *m[1:], tags=tags) if m[0] == "user" else m[1]}
                            for m in conv]
                    out = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=agp, return_dict=True,
                                                  return_assistant_tokens_mask=True)
                    ids = list(out["input_ids"])
                    mask = list(out["assistant_masks"])
                    assert len(ids) == len(mask)
                    case = {"format": fmt, "family": fam, "conv": ci, "default_system": default_system,
                            "image_seq_len": n, "add_generation_prompt": agp,
                            "messages": [message_json(m) for m in conv],
                            "rendered": tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=agp),
                            "ids": ids, "mask": mask}
                    if tags:
                        case["image_tags"] = tags
                    cases.append(case)
    with open(os.path.join(out_dir, "chat.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
    print(f"chat: {len(cases)} renderings")


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tok"))
