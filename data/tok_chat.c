/* data/tok_chat.c — chat templates (placeholder while the encoder lands). */
#include "data/tok_internal.h"

int tok_render_chat(const Tokenizer *t, const TokChatOpts *opt, const TokMessage *msgs, size_t n, TokIds *ids,
                    TokIds *mask, VStatus *st) {
    (void)t; (void)opt; (void)msgs; (void)n; (void)ids; (void)mask;
    return vs_set(st, VS_EUNSUP, "tok_render_chat: not built yet");
}
