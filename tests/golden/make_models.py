#!/usr/bin/env python3
"""tests/golden/make_models.py — tiny random Hugging Face models + reference
forward/backward outputs for the model parity tests (tests/model/test_golden_*.c).

Regenerate (needs torch + transformers 5.x; CI does not run this):
    /work/main/.venv/bin/python tests/golden/make_models.py

For each model NAME it writes tests/golden/models/NAME/:
  hf/            the model as transformers saves it (config.json + safetensors;
                 `idefics3` is sharded with model.safetensors.index.json,
                 `llava_siglip_qwen2` is saved in bfloat16)
  inputs.safetensors   pixel_values (f32), input_ids (i64), labels (i64, -100 = no loss)
  ref.safetensors      reference computed in float64 from the saved weights, rounded
                       to f32 for storage (rounding adds ~6e-8 relative error):
                       logits (B, T, V), loss (1), grad.<hf name> for every saved tensor
                       (exact zeros where transformers leaves .grad None)
  ref.json             calibration: relative error of a float32 torch run against the
                       float64 reference (logits, loss, per-gradient), the tolerance the
                       C tests use is set well above these.

Models (hidden <= 64, 2-3 layers, vocab <= 512, 32x32 images):
  text_llama          LlamaForCausalLM, untied, llama3 rope scaling
  llava_clip_llama    LLaVA: CLIP tower (CLS, quick_gelu, pre_layrnorm, layer -2,
                      CLS dropped) + mlp projector + Llama (llama3 rope scaling)
  llava_clip_full     LLaVA: CLIP tower, CLS kept ("full"), feature layer 1 (>= 0), 1-layer Llama
  llava_siglip_qwen2  LLaVA: SigLIP tower (no CLS, layer -1 without post_layernorm,
                      head present but unused) + Qwen2 (GQA, qkv bias, tied embeddings), bf16
  idefics3            Idefics3: SigLIP-like tower, pixel shuffle r=2, Llama, no image splitting
  vision_siglip       a separate SiglipVisionModel (hf/ only), to join with text_llama
  pos_resize          llava_siglip_qwen2's position grid resized 4x4 -> 8x8 by torch bicubic
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import (CLIPVisionConfig, Idefics3Config, Idefics3ForConditionalGeneration,
                          LlamaConfig, LlamaForCausalLM, LlavaConfig, LlavaForConditionalGeneration,
                          Qwen2Config, SiglipVisionConfig)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")

VOCAB = 256
IMG = 32


def llama_cfg(**kw):
    c = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
             rms_norm_eps=1e-5, tie_word_embeddings=False, attn_implementation="eager",
             rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 16},
             pad_token_id=0, bos_token_id=1, eos_token_id=2)
    c.update(kw)
    return LlamaConfig(**c)


def drop_generation_config(d):
    """generation_config.json is not part of what the tests read; not committed."""
    p = os.path.join(d, "hf", "generation_config.json")
    if os.path.exists(p):
        os.remove(p)


def make_tokens(g, B, T, n_img, img_tok, img_at, vocab=VOCAB):
    """input_ids (B, T) random text with a run of n_img image placeholders at img_at
    (None: text only); labels: -100 on the prompt and image, ids afterwards, with a
    couple of extra -100 holes so masking inside the answer is exercised."""
    ids = torch.randint(3, vocab - 8, (B, T), generator=g)
    labels = ids.clone()
    for b in range(B):
        start = img_at[b] if img_at is not None else 0
        if img_at is not None:
            ids[b, start:start + n_img] = img_tok
            labels[b, :start + n_img + 1] = -100
        else:
            labels[b, :3] = -100
        labels[b, T - 2 - b] = -100
    return ids, labels


def run(model, inputs, dtype):
    model = model.to(dtype)
    model.zero_grad(set_to_none=True)
    kw = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in inputs.items()}
    out = model(**kw)
    out.loss.backward()
    grads = {}
    params = dict(model.named_parameters())
    for name, p in params.items():
        grads[name] = p.grad.detach().clone() if p.grad is not None else None
    return out.logits.detach().clone(), out.loss.detach().clone(), grads


def rel(a, b):
    a = a.double()
    b = b.double()
    nb = b.norm().item()
    d = (a - b).norm().item()
    return d / nb if nb > 0 else d


def saved_names(model, save_dtype, tmp):
    """{saved tensor name: parameter name}. transformers 5 saves LLaVA in the older
    layout (language_model.model.*) and renames on load, so the mapping is found by
    saving once with every parameter filled with its own index as a marker."""
    from safetensors import safe_open
    params = list(model.named_parameters())
    keep = [p.detach().clone() for _, p in params]
    with torch.no_grad():
        for i, (_, p) in enumerate(params):
            p.fill_(float(i + 1))
    model.save_pretrained(tmp, safe_serialization=True)
    with torch.no_grad():
        for (_, p), k in zip(params, keep):
            p.copy_(k)
    out = {}
    for f in sorted(os.listdir(tmp)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(tmp, f), "pt") as sf:
                for k in sf.keys():
                    v = sf.get_tensor(k).flatten()[0].item()
                    out[k] = params[int(round(v)) - 1][0]
    shutil.rmtree(tmp)
    return out


def emit(name, model, inputs, save_dtype=torch.float32, max_shard_size=None):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model.eval()  # no dropout (all probabilities are 0 anyway)
    model = model.to(save_dtype)
    kw = {"safe_serialization": True}
    if max_shard_size:
        kw["max_shard_size"] = max_shard_size
    model.save_pretrained(os.path.join(d, "hf"), **kw)
    drop_generation_config(d)
    # The reference is what transformers computes from the saved checkpoint: reload it
    # (in float32, so non-persistent buffers such as rope inv_freq are recomputed in
    # float32 as on any load, not left rounded to bf16 by the .to() above).
    model = type(model).from_pretrained(os.path.join(d, "hf"), dtype=torch.float32,
                                        attn_implementation="eager").eval()
    lg64, ls64, g64 = run(model, inputs, torch.float64)
    lg32, ls32, g32 = run(model, inputs, torch.float32)

    # Saved tensor names (tied weights are saved once, under the name transformers keeps).
    saved = saved_names(model, save_dtype, os.path.join(d, "tmp"))
    params = dict(model.named_parameters())
    ref = {"logits": lg64.float().contiguous(), "loss": ls64.reshape(1).float()}
    calib = {"logits_f32_vs_f64": rel(lg32, lg64), "loss_f32_vs_f64": rel(ls32, ls64),
             "grads_f32_vs_f64": {}, "no_grad": []}
    for n, pn in sorted(saved.items()):
        if g64[pn] is None:
            ref["grad." + n] = torch.zeros_like(params[pn], dtype=torch.float32)
            calib["no_grad"].append(n)
        else:
            ref["grad." + n] = g64[pn].float().contiguous()
            calib["grads_f32_vs_f64"][n] = rel(g32[pn], g64[pn])
    save_file(ref, os.path.join(d, "ref.safetensors"))
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(d, "inputs.safetensors"))
    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump(calib, f, indent=1, sort_keys=True)
    worst = max(calib["grads_f32_vs_f64"].values())
    print(f"{name}: loss {ls64.item():.6f}  f32 vs f64: logits {calib['logits_f32_vs_f64']:.2e} "
          f"loss {calib['loss_f32_vs_f64']:.2e} worst grad {worst:.2e}; no grad: {len(calib['no_grad'])}")


def text_llama():
    torch.manual_seed(1)
    m = LlamaForCausalLM(llama_cfg(num_hidden_layers=3))
    g = torch.Generator().manual_seed(11)
    ids, labels = make_tokens(g, 2, 20, 0, 0, None)
    emit("text_llama", m, {"input_ids": ids, "labels": labels})


def llava_clip_llama():
    torch.manual_seed(2)
    vc = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                          image_size=IMG, patch_size=8, projection_dim=16, hidden_act="quick_gelu",
                          attn_implementation="eager")
    tc = llama_cfg()
    img_tok = VOCAB - 1
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=img_tok,
                      projector_hidden_act="gelu", vision_feature_select_strategy="default",
                      vision_feature_layer=-2, multimodal_projector_bias=True,
                      attn_implementation="eager")
    m = LlavaForConditionalGeneration(cfg)
    g = torch.Generator().manual_seed(12)
    n_img = (IMG // 8) ** 2
    ids, labels = make_tokens(g, 2, 28, n_img, img_tok, [2, 4])
    px = torch.randn(2, 3, IMG, IMG, generator=g)
    emit("llava_clip_llama", m, {"pixel_values": px, "input_ids": ids, "labels": labels})


def llava_clip_full():
    """CLIP tower keeping its CLS row (strategy "full") with a non-negative feature
    layer (hidden_states[1]: one block run of two), untied Llama without rope scaling."""
    torch.manual_seed(6)
    vc = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          image_size=IMG, patch_size=16, projection_dim=16, hidden_act="quick_gelu",
                          attn_implementation="eager")
    tc = llama_cfg(num_hidden_layers=1, vocab_size=128, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    img_tok = 127
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=img_tok,
                      projector_hidden_act="gelu", vision_feature_select_strategy="full",
                      vision_feature_layer=1, multimodal_projector_bias=True, attn_implementation="eager")
    m = LlavaForConditionalGeneration(cfg)
    g = torch.Generator().manual_seed(16)
    n_img = (IMG // 16) ** 2 + 1
    ids, labels = make_tokens(g, 2, 16, n_img, img_tok, [1, 3], vocab=128)
    px = torch.randn(2, 3, IMG, IMG, generator=g)
    emit("llava_clip_full", m, {"pixel_values": px, "input_ids": ids, "labels": labels})


def llava_siglip_qwen2():
    torch.manual_seed(3)
    vc = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            image_size=IMG, patch_size=8, hidden_act="gelu_pytorch_tanh",
                            vision_use_head=True, attn_implementation="eager")
    tc = Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=128,
                     rms_norm_eps=1e-6, tie_word_embeddings=True, attn_implementation="eager",
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                     use_sliding_window=False)
    img_tok = VOCAB - 2
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=img_tok,
                      projector_hidden_act="gelu", vision_feature_select_strategy="full",
                      vision_feature_layer=-1, multimodal_projector_bias=True,
                      tie_word_embeddings=True, attn_implementation="eager")
    m = LlavaForConditionalGeneration(cfg)
    g = torch.Generator().manual_seed(13)
    n_img = (IMG // 8) ** 2
    ids, labels = make_tokens(g, 2, 26, n_img, img_tok, [3, 1])
    px = torch.randn(2, 3, IMG, IMG, generator=g)
    emit("llava_siglip_qwen2", m, {"pixel_values": px, "input_ids": ids, "labels": labels},
         save_dtype=torch.bfloat16)


def idefics3():
    torch.manual_seed(4)
    from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig
    vc = Idefics3VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=IMG, patch_size=4, hidden_act="gelu_pytorch_tanh")
    tc = llama_cfg(rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
    img_tok = VOCAB - 3
    cfg = Idefics3Config(vision_config=vc.to_dict(), text_config=tc.to_dict(), image_token_id=img_tok,
                         scale_factor=2, tie_word_embeddings=False)
    m = Idefics3ForConditionalGeneration(cfg)
    m.set_attn_implementation("eager") if hasattr(m, "set_attn_implementation") else None
    g = torch.Generator().manual_seed(14)
    n_img = ((IMG // 4) ** 2) // 4
    ids, labels = make_tokens(g, 2, 26, n_img, img_tok, [2, 5])
    px = torch.randn(2, 1, 3, IMG, IMG, generator=g)
    emit("idefics3", m, {"pixel_values": px, "input_ids": ids, "labels": labels}, max_shard_size="100KB")


def vision_siglip():
    """A separate SiglipVisionModel checkpoint (weights only), joined with text_llama
    by the C tests through `vlmc convert --vision --lm`."""
    torch.manual_seed(5)
    from transformers import SiglipVisionModel
    vc = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            image_size=IMG, patch_size=8, hidden_act="gelu_pytorch_tanh")
    m = SiglipVisionModel(vc)
    d = os.path.join(OUT, "vision_siglip")
    shutil.rmtree(d, ignore_errors=True)
    m.save_pretrained(os.path.join(d, "hf"), safe_serialization=True)
    drop_generation_config(d)
    print("vision_siglip: saved")


def pos_resize():
    """Position embeddings of llava_siglip_qwen2 (4x4 grid) resized to 8x8 exactly as
    transformers' interpolate_pos_encoding does (F.interpolate bicubic,
    align_corners=False), in float64 from the saved bf16 weights."""
    from safetensors import safe_open
    d = os.path.join(OUT, "llava_siglip_qwen2")
    with safe_open(os.path.join(d, "hf", "model.safetensors"), "pt") as f:
        pe = f.get_tensor("vision_tower.embeddings.position_embedding.weight").double()
    D = pe.shape[1]
    g = pe.reshape(1, 4, 4, D).permute(0, 3, 1, 2)
    r = torch.nn.functional.interpolate(g, size=(8, 8), mode="bicubic", align_corners=False)
    r = r.permute(0, 2, 3, 1).reshape(64, D)
    save_file({"position_embedding_64px": r.float().contiguous()}, os.path.join(d, "pos_resize.safetensors"))
    print("pos_resize: saved")


if __name__ == "__main__":
    torch.use_deterministic_algorithms(True)
    which = sys.argv[1:] or ["text_llama", "llava_clip_llama", "llava_clip_full", "llava_siglip_qwen2", "idefics3", "vision_siglip", "pos_resize"]
    for w in which:
        globals()[w]()
