/* Every op of VLMC_OPS must exist in every compiled-in backend: an op added
 * for the CPU cannot silently miss CUDA. Works without a device, from the
 * static tables. */
#include "kernels/ops.h"
#include "test.h"

static void test_every_backend_has_every_op(void) {
    CHECK(op_count >= 30, "op table has %zu ops", op_count);
    for (const char *const *b = be_compiled(); *b; b++) {
        const OpTable *t = be_table_for(*b);
        CHECK(t != NULL, "no table for compiled-in backend %s", *b);
        if (!t) continue;
        for (size_t i = 0; i < op_count; i++)
            CHECK(op_table_entry(t, i) != NULL, "backend %s lacks op %s", *b, op_names[i]);
    }
}

static void test_names_unique(void) {
    for (size_t i = 0; i < op_count; i++)
        for (size_t j = i + 1; j < op_count; j++)
            CHECK(strcmp(op_names[i], op_names[j]) != 0, "duplicate op %s", op_names[i]);
}

TEST_MAIN({"every_backend_has_every_op", test_every_backend_has_every_op}, {"names_unique", test_names_unique})
