/* harness: exercise every entry point of the kernel on possibly hostile langdb files.
 *
 *   harness FILE...
 *
 * Each file is copied into a heap block of exactly its size (so that an address sanitizer
 * catches any read past its end), opened with kg_open_buffer, verified, and queried with a
 * set of texts through kg_predict (k = 1, 3, KG_MAX_K), kg_word, kg_display, kg_score_text
 * and kg_score_word. Prints one line per file: `<open status> <verify status>` (the verify
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
};

static int query(const kg_db *db)
{
    static const size_t ks[] = {1, 3, KG_MAX_K};
    kg_suggestion out[KG_MAX_K];
    size_t t, i, j, n, len;
    const char *w;
    int64_t sum;
    uint64_t count;
    uint32_t ctx[6] = {1, 3, 4, 5, 6, 7}, v = kg_vocab_size(db);
    int bad = 0;

    for (t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        for (j = 0; j < 3; j++) {
            if (kg_predict(db, texts[t], strlen(texts[t]), ks[j], out, &n) != KG_OK)
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
        kg_score_text(db, texts[t], strlen(texts[t]), &sum, &count);
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
