/* harness: exercise every entry point of the kernel on possibly hostile langdb files.
 *
 *   harness FILE...
 *
 * Each file is copied into a heap block of exactly its size (so that an address sanitizer
 * catches any read past its end), opened with kg_open_buffer, verified, and queried with a
 * set of texts (each in a heap block of exactly its length, long ones included) through
 * kg_predict (k = 1, 3, KG_MAX_K), kg_suggest (the same k, on each shipped layout, with
 * and without touch points), kg_context_ids, kg_word, kg_display, kg_score_text and
 * kg_score_word. Prints one line per file: `<open status> <verify status>` (the verify
 * status is - when the open failed). Built with -fsanitize=address,undefined by the tests;
 * any memory error aborts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyglide.h"

static const char *const texts[] = {
    "",
    " ",
    "a",
    "the ",
    "b",
    "Hello world. How are you? I am fine, thank you",
    "don't stop believing in the well-known",
    "e é à z 0 9 ß д я ",
    "zzz unknown words everywhere ",
    "Mr. Smith went to Washington. ",
    "a b a b a b a b a b ",
    "\xff\xfe invalid \xed\xa0\x80 bytes \xc3",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "I will see you teh",
    "tomorow it is don",
    "qzjxkvbwpfmghlcrtyduisneoaqzjxkvbwpfmghl",
    "abbeyzzabbeyzzabbeyzzabbeyzzabbe",
    "\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4"
    "\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4"
    "\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4\xd0\xb4"
    "\xd0\xb4\xd0\xb4",
    "caf\xc3\xa9 \xc3\xa0 l'\xc3\xa9t\xc3\xa9 aeiouy",
};

#define N_TEXTS (sizeof texts / sizeof texts[0])
#define LONG_REPEAT 300

/* texts[t] in a heap block of exactly its length; for t >= N_TEXTS, a long text: the
 * short text t - N_TEXTS repeated, so that the kernel reads only its tail. */
static char *text_copy(size_t t, size_t *len)
{
    const char *src = texts[t % N_TEXTS];
    size_t n = strlen(src), times = t < N_TEXTS ? 1 : LONG_REPEAT, i;
    char *copy = malloc(n * times + 1); /* + 1: malloc(0) may return NULL */
    if (!copy)
        abort();
    for (i = 0; i < times; i++)
        memcpy(copy + i * n, src, n);
    *len = n * times;
    return copy;
}

static int context_ids(const kg_db *db, const char *text, size_t len, uint32_t v)
{
    static const size_t caps[] = {0, 1, 8, 300};
    uint32_t history[300], sentence[300];
    size_t i, j, hn, sn, typed;
    int bad = 0;
    for (i = 0; i < 4; i++) {
        if (kg_context_ids(db, text, len, caps[i] ? history : NULL, caps[i], &hn,
                           caps[3 - i] ? sentence : NULL, caps[3 - i], &sn, &typed) != KG_OK)
            continue;
        bad |= hn > caps[i] || sn > caps[3 - i] || typed > KG_MAX_WORD_BYTES + 1;
        for (j = 0; j < hn; j++)
            bad |= history[j] >= v;
        for (j = 0; j < sn; j++)
            bad |= sentence[j] >= v;
    }
    return bad;
}

/* kg_suggest on every shipped layout, without touch points and with one for each
 * character (spread over the keyboard and beyond it); the answers stay in range. */
static int suggest(const kg_db *db, const char *text, size_t len, uint32_t v)
{
    static const char *const layouts[] = {"qwerty", "azerty", "qwertz"};
    static const size_t ks[] = {0, 1, 3, KG_MAX_K};
    kg_suggestion out[KG_MAX_K];
    kg_touch touches[4 * KG_MAX_WORD_BYTES];
    kg_correction c;
    kg_layout layout;
    size_t l, j, i, n, want;
    int bad = 0;
    for (i = 0; i < sizeof touches / sizeof touches[0]; i++) {
        touches[i].x = (double)(i % 13) - 1.5;
        touches[i].y = (double)(i % 5) * 1.1;
        touches[i].present = i % 3 != 2;
    }
    for (l = 0; l < 3; l++) {
        if (kg_layout_builtin(&layout, layouts[l]) != KG_OK)
            return 1;
        for (j = 0; j < 4; j++) {
            if (kg_suggest(db, text, len, NULL, 0, &layout, KG_DEFAULT_THRESHOLD, ks[j], out,
                           &n, &c) != KG_OK)
                continue;
            bad |= n > ks[j] || (c.has_correction && c.word_id >= v);
            for (i = 0; i < n; i++)
                bad |= out[i].word_id >= v;
            /* The same word with a touch point for each of its characters. */
            want = c.typed_length;
            if (!c.typing || want > sizeof touches / sizeof touches[0])
                continue;
            if (kg_suggest(db, text, len, touches, want, &layout, 0, ks[j], out, &n, &c) ==
                KG_OK)
                bad |= n > ks[j] || (c.has_correction && c.word_id >= v);
            bad |= kg_suggest(db, text, len, touches, want + 1, &layout, 0, ks[j], out, &n,
                              &c) != KG_E_INVALID_ARGUMENT;
        }
    }
    return bad;
}

static int query(const kg_db *db)
{
    static const size_t ks[] = {1, 3, KG_MAX_K};
    kg_suggestion out[KG_MAX_K];
    size_t t, i, j, n, len, text_len;
    const char *w;
    char *text;
    int64_t sum;
    uint64_t count;
    uint32_t ctx[6] = {1, 3, 4, 5, 6, 7}, v = kg_vocab_size(db);
    int bad = 0;

    for (t = 0; t < 2 * N_TEXTS; t++) {
        text = text_copy(t, &text_len);
        bad |= context_ids(db, text, text_len, v);
        bad |= suggest(db, text, text_len, v);
        if (t < N_TEXTS) /* it reads all of a text: the long ones would only cost time */
            kg_score_text(db, text, text_len, &sum, &count);
        for (j = 0; j < 3; j++) {
            if (kg_predict(db, text, text_len, ks[j], out, &n) != KG_OK)
                continue;
            if (n > ks[j])
                bad = 1;
            for (i = 0; i < n; i++) {
                if (kg_word(db, out[i].word_id, &w, &len) == KG_OK && len)
                    bad |= w[0] == 0 && w[len - 1] == 0 && len > 1000000; /* touch the bytes */
                if (kg_display(db, out[i].word_id, &w, &len) == KG_OK && len)
                    bad |= w[0] == 0 && w[len - 1] == 0 && len > 1000000;
            }
        }
        free(text);
    }
    for (i = 0; i < 6; i++)
        if (ctx[i] >= v)
            ctx[i] = v ? v - 1 : 0;
    for (i = 0; i <= 6; i++)
        for (j = 0; j < v && j < 50; j++)
            kg_score_word(db, ctx, i, (uint32_t)j, &sum);
    for (j = 0; j < v && j < 50; j++) {
        kg_word(db, (uint32_t)j, &w, &len);
        if (kg_display(db, (uint32_t)j, &w, &len) == KG_OK && len)
            bad |= w[0] == 0 && w[len - 1] == 0 && len > 1000000;
    }
    for (j = v > 50 ? v - 50 : 50; j < v; j++) /* the last ids: display forms live anywhere */
        if (kg_display(db, (uint32_t)j, &w, &len) == KG_OK && len)
            bad |= w[0] == 0 && w[len - 1] == 0 && len > 1000000;
    if (kg_display(db, v, &w, &len) != KG_E_INVALID_ARGUMENT)
        bad = 1;
    return bad;
}

int main(int argc, char **argv)
{
    int a, bad = 0;
    for (a = 1; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        long size;
        unsigned char *data;
        kg_db *db;
        kg_status st, vst = KG_OK;
        if (!f) {
            perror(argv[a]);
            return 2;
        }
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, 0, SEEK_SET);
        data = malloc(size ? (size_t)size : 1);
        if (!data || fread(data, 1, (size_t)size, f) != (size_t)size)
            return 2;
        fclose(f);
        st = kg_open_buffer(data, (size_t)size, &db);
        if (st == KG_OK) {
            vst = kg_verify(db);
            bad |= query(db);
            kg_close(db);
            printf("%d %d\n", (int)st, (int)vst);
        } else {
            printf("%d -\n", (int)st);
        }
        free(data);
    }
    return bad;
}
