/* tests/model/test_golden_text.c — text-only Llama (3 layers, GQA, untied,
 * llama3 rope scaling) against transformers: logits, loss, every gradient
 * (tolerances in golden_util.h), and recompute on/off identity. */
#include "golden_util.h"

static void test_text_llama(void) { golden_run("text_llama", NULL, 0); }
static void test_text_llama_recompute(void) { golden_run("text_llama", NULL, 1); }

TEST_MAIN({"text_llama", test_text_llama}, {"text_llama_recompute", test_text_llama_recompute})
