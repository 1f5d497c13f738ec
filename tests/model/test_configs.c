/* tests/model/test_configs.c — real architectures' config.json files (as
 * published on the Hugging Face hub, trimmed to the keys that matter) parse
 * into parameter tables whose total size equals the published parameter
 * counts (model.num_parameters() in transformers): SmolLM2-135M, Qwen2-0.5B,
 * Llama-3.2-1B (llama3 rope scaling), Mistral-7B-v0.1 (sliding window),
 * llava-1.5-7b (CLIP-L/336 + Llama-2, older config keys), SmolVLM-256M
 * (Idefics3, 64 tokens per image). Only tables are built: no weights. Bad
 * configs fail with a message naming the key. */
#include <unistd.h>

#include "golden_util.h"

static const char *write_tmp(const char *json) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/vlmc_cfg_%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    return path;
}

static int64_t count(const char *json, VlmConfig *out, VStatus *st) {
    const char *p = write_tmp(json);
    int vo = 0;
    int rc = mcfg_from_hf_json(p, out, &vo, st);
    unlink(p);
    if (rc) return -1;
    Vlm m;
    if (vlm_build(&m, out, st)) return -1;
    int64_t n = 0;
    for (int i = 0; i < m.pt.n; i++) n += m.pt.p[i].numel;
    vlm_free(&m);
    return n;
}

static void expect(const char *name, const char *json, int64_t want, VlmConfig *c) {
    VStatus st = {0};
    int64_t got = count(json, c, &st);
    CHECK(got == want, "%s: %lld parameters, published %lld (%s)", name, (long long)got, (long long)want, st.msg);
    printf("  %-20s %lld parameters\n", name, (long long)got);
}

static void test_text_models(void) {
    VlmConfig c;
    expect("SmolLM2-135M",
           "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":576,\"intermediate_size\":1536,"
           "\"num_hidden_layers\":30,\"num_attention_heads\":9,\"num_key_value_heads\":3,\"vocab_size\":49152,"
           "\"rms_norm_eps\":1e-05,\"rope_theta\":100000,\"tie_word_embeddings\":true,\"max_position_embeddings\":8192}",
           134515008LL, &c);
    CHECK(c.llm.tied && c.llm.head_dim == 64 && c.llm.rope.theta == 100000.0f, "SmolLM2 fields");
    expect("Qwen2-0.5B",
           "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":896,\"intermediate_size\":4864,"
           "\"num_hidden_layers\":24,\"num_attention_heads\":14,\"num_key_value_heads\":2,\"vocab_size\":151936,"
           "\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,\"tie_word_embeddings\":true,\"sliding_window\":131072,"
           "\"use_sliding_window\":false,\"max_window_layers\":21}",
           494032768LL, &c);
    CHECK(c.llm.qkv_bias && c.llm.arch_qwen2 && c.llm.sliding_window == 0, "Qwen2 fields");
    expect("Llama-3.2-1B",
           "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":2048,\"intermediate_size\":8192,"
           "\"num_hidden_layers\":16,\"num_attention_heads\":32,\"num_key_value_heads\":8,\"head_dim\":64,\"vocab_size\":128256,"
           "\"rms_norm_eps\":1e-05,\"rope_theta\":500000.0,\"rope_scaling\":{\"factor\":32.0,\"high_freq_factor\":4.0,"
           "\"low_freq_factor\":1.0,\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
           "\"tie_word_embeddings\":true}",
           1235814400LL, &c);
    CHECK(c.llm.rope.scaling == ROPE_LLAMA3 && c.llm.rope.factor == 32.0f && c.llm.rope.original_max_pos == 8192 &&
              c.llm.rope.theta == 500000.0f, "Llama 3 rope scaling");
    expect("Mistral-7B-v0.1",
           "{\"architectures\":[\"MistralForCausalLM\"],\"model_type\":\"mistral\",\"hidden_size\":4096,\"intermediate_size\":14336,"
           "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":8,\"vocab_size\":32000,"
           "\"rms_norm_eps\":1e-05,\"rope_theta\":10000.0,\"sliding_window\":4096,\"tie_word_embeddings\":false}",
           7241732096LL, &c);
    CHECK(c.llm.sliding_window == 4096 && !c.llm.tied, "Mistral fields");
}

static void test_vlms(void) {
    VlmConfig c;
    /* llava-hf/llava-1.5-7b-hf: older config (no rope_parameters, defaults omitted) */
    expect("llava-1.5-7b",
           "{\"architectures\":[\"LlavaForConditionalGeneration\"],\"model_type\":\"llava\",\"ignore_index\":-100,"
           "\"image_token_index\":32000,\"projector_hidden_act\":\"gelu\",\"vision_feature_layer\":-2,"
           "\"vision_feature_select_strategy\":\"default\",\"pad_token_id\":32001,"
           "\"text_config\":{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"],\"max_position_embeddings\":4096,"
           "\"rms_norm_eps\":1e-05,\"vocab_size\":32064,\"hidden_size\":4096,\"intermediate_size\":11008,"
           "\"num_hidden_layers\":32,\"num_attention_heads\":32},"
           "\"vision_config\":{\"model_type\":\"clip_vision_model\",\"hidden_size\":1024,\"image_size\":336,"
           "\"intermediate_size\":4096,\"num_attention_heads\":16,\"num_hidden_layers\":24,\"patch_size\":14,"
           "\"projection_dim\":768,\"vocab_size\":32000}}",
           7063427072LL, &c);
    CHECK(c.vis.kind == VIS_CLIP && mcfg_tokens_per_image(&c) == 576 && mcfg_vision_layers_run(&c.vis) == 23 &&
              c.vis.act == ACT_QUICK_GELU && c.image_token_id == 32000, "llava-1.5 fields");
    /* HuggingFaceTB/SmolVLM-256M-Instruct (trimmed) */
    VStatus st = {0};
    int64_t n = count("{\"architectures\":[\"Idefics3ForConditionalGeneration\"],\"model_type\":\"idefics3\",\"image_token_id\":49190,"
                      "\"scale_factor\":4,\"tie_word_embeddings\":false,"
                      "\"text_config\":{\"model_type\":\"llama\",\"hidden_size\":576,\"intermediate_size\":1536,\"num_hidden_layers\":30,"
                      "\"num_attention_heads\":9,\"num_key_value_heads\":3,\"vocab_size\":49280,\"rms_norm_eps\":1e-05,"
                      "\"rope_theta\":100000,\"tie_word_embeddings\":false},"
                      "\"vision_config\":{\"model_type\":\"idefics3_vision\",\"hidden_size\":768,\"image_size\":512,"
                      "\"intermediate_size\":3072,\"num_attention_heads\":12,\"num_hidden_layers\":12,\"patch_size\":16}}",
                      &c, &st);
    CHECK(n > 0, "%s", st.msg);
    CHECK(mcfg_tokens_per_image(&c) == 64 && c.adapter.shuffle == 4 && c.vis.post_norm, "SmolVLM: 64 tokens per image");
    /* vision tower 85.8M + connector 12288*576 + LLM with untied 49280-row head */
    int64_t vis = 768 * 3 * 16 * 16 + 768 + 1024 * 768 + 12LL * (4 * (768 * 768 + 768) + 2 * 768 * 3072 + 3072 + 768 + 4 * 768) + 2 * 768;
    int64_t llm = 2LL * 49280 * 576 + 30LL * 3540096 + 576;
    CHECK(n == vis + 12288LL * 576 + llm, "SmolVLM-256M: %lld vs %lld", (long long)n, (long long)(vis + 12288LL * 576 + llm));
    printf("  %-20s %lld parameters\n", "SmolVLM-256M", (long long)n);
}

static void test_bad_configs(void) {
    VlmConfig c;
    VStatus st = {0};
    CHECK(count("{\"model_type\":\"gpt2\"}", &c, &st) < 0 && strstr(st.msg, "gpt2"), "%s", st.msg);
    CHECK(count("{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}", &c, &st) < 0 && strstr(st.msg, "yarn"), "%s", st.msg);
    CHECK(count("{\"model_type\":\"llama\",\"num_attention_heads\":6,\"num_key_value_heads\":4}", &c, &st) < 0 && strstr(st.msg, "num_key_value_heads"), "%s", st.msg);
    CHECK(count("{\"model_type\":\"llava\",\"vision_feature_layer\":[-2,-5],\"text_config\":{},\"vision_config\":{\"model_type\":\"clip_vision_model\"}}", &c, &st) < 0 &&
              strstr(st.msg, "vision_feature_layer"), "%s", st.msg);
    CHECK(count("{\"model_type\":\"llava\",\"text_config\":{},\"vision_config\":{\"model_type\":\"clip_vision_model\",\"image_size\":100,\"patch_size\":14}}", &c, &st) < 0 &&
              strstr(st.msg, "image_size"), "%s", st.msg);
    CHECK(count("{not json", &c, &st) < 0 && st.msg[0], "%s", st.msg);
}

TEST_MAIN({"text_models", test_text_models}, {"vlms", test_vlms}, {"bad_configs", test_bad_configs})
