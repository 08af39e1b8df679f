/* libFuzzer target: the kernel on an arbitrary langdb.
 *
 * The input is a langdb file, tried three ways, each in a heap block of exactly its size:
 *   - as it is;
 *   - with every CRC recomputed (the header's and each section's, as far as the section
 *     table can be read), so that mutations reach the checks behind the checksums and
 *     kg_verify's deeper passes;
 *   - with one section (chosen by the input's CRC) moved to the end of the file and the
 *     CRCs recomputed, so that reading past the end of any section, not only of the last
 *     one in the input, is reading past the end of the buffer, which the sanitizer reports.
 * Whatever opens (kg_open_buffer) is verified (kg_verify), then queried through every entry
 * point that reads the file: kg_predict (next word and completion, k = 1, 3, KG_MAX_K),
 * kg_suggest (the typing decoder, on the QWERTY layout, with and without touch points),
 * kg_context_ids, kg_score_text, kg_score_word, kg_word, kg_display, kg_lookup,
 * kg_metadata and the properties. Besides a fixed set of texts, the queries follow the
 * file's own predictions (each best suggestion appended to the text), so that contexts
 * found in the trie are searched.
 *
 * On any file: at most k suggestions, scores non-increasing, ids inside the vocabulary,
 * context ids inside it too. On a file that kg_verify accepts, suggestions are in rank
 * order (score, then id) and distinct, each one's score is kg_score_word's for the same
 * context, and completions start with the typed prefix. A broken promise aborts with its
 * line, as any sanitizer report does.
 *
 * Build: `make -C native fuzz` (clang, -fsanitize=fuzzer,address,undefined); run:
 * `nox -s fuzz` (native/fuzz/README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyglide.h"

#define FIRST_WORD 3u /* ids below are "<unk>", "<s>" and "</s>": never suggested */

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* ---- CRC-32 (zlib's), to recompute the checksums of a mutated file ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    uint32_t i, c;
    int k;
    for (i = 0; i < 256; i++) {
        for (c = i, k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Recomputes in d[0..n) every section CRC whose section lies inside the file, then the
 * header CRC (FORMAT.md sections 2 and 3). Returns whether anything changed. */
static int fix_checksums(unsigned char *d, size_t n)
{
    uint32_t count, header_size, i, crc;
    int changed = 0;
    if (n < 64)
        return 0;
    count = le32(d + 40);
    header_size = le32(d + 12);
    for (i = 0; i < count && i < 1024 && 64 + 32 * (uint64_t)i + 32 <= n; i++) {
        unsigned char *e = d + 64 + 32 * (size_t)i;
        uint64_t offset = le64(e + 8), length = le64(e + 16);
        if (offset > n || length > n - offset)
            continue;
        crc = crc32_of(d + offset, (size_t)length);
        if (crc != le32(e + 24)) {
            put32(e + 24, crc);
            changed = 1;
        }
    }
    if (header_size >= 64 && header_size <= n) {
        unsigned char saved[4];
        memcpy(saved, d + 48, 4);
        memset(d + 48, 0, 4);
        crc = crc32_of(d, header_size);
        put32(d + 48, crc);
        changed |= memcmp(saved, d + 48, 4) != 0;
    }
    return changed;
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* Lays out the sections of d (a readable table of `count` entries) every one but `last` in
 * table order, then `last`, each at the next multiple of 8 after header_size; writes them
 * and their offsets into out unless it is NULL. Returns the file size. */
static uint64_t lay_out(const unsigned char *d, uint32_t count, uint32_t header_size,
                        uint32_t last, unsigned char *out)
{
    uint64_t total = header_size, offset, length;
    uint32_t k, i;
    for (k = 0; k < count; k++) {
        i = k < last ? k : k + 1 < count ? k + 1 : last;
        offset = le64(d + 64 + 32 * (size_t)i + 8);
        length = le64(d + 64 + 32 * (size_t)i + 16);
        total = (total + 7) / 8 * 8;
        if (out) {
            memcpy(out + total, d + offset, (size_t)length);
            put64(out + 64 + 32 * (size_t)i + 8, total);
        }
        total += length;
    }
    return total;
}

/* The file with section `last` (modulo the count) moved to its end, the others packed in
 * their order in the table, file_size and every CRC set: a read past the end of that
 * section is then a read past the end of the buffer, which the sanitizer sees. NULL when
 * the section table cannot be read; *out_size receives the new size. */
static unsigned char *with_section_last(const unsigned char *d, size_t n, uint32_t last,
                                        size_t *out_size)
{
    uint32_t count, header_size, i;
    uint64_t total;
    unsigned char *out;
    if (n < 64)
        return NULL;
    count = le32(d + 40);
    header_size = le32(d + 12);
    if (count == 0 || count > 1024 || header_size != 64 + 32 * count || header_size > n)
        return NULL;
    for (i = 0; i < count; i++) {
        uint64_t offset = le64(d + 64 + 32 * (size_t)i + 8);
        uint64_t length = le64(d + 64 + 32 * (size_t)i + 16);
        if (offset > n || length > n - offset)
            return NULL;
    }
    last %= count;
    total = lay_out(d, count, header_size, last, NULL);
    out = calloc(1, (size_t)total);
    if (!out)
        abort();
    memcpy(out, d, header_size);
    lay_out(d, count, header_size, last, out);
    put64(out + 32, total);
    fix_checksums(out, (size_t)total);
    *out_size = (size_t)total;
    return out;
}

/* ---- queries ---- */

static const char *const texts[] = {
    "",
    " ",
    "a",
    "the ",
    "Hello world. How are you? I am fine, thank you",
    "don't stop believing in the well-known",
    "e \xc3\xa9 \xc3\xa0 z 0 9 \xc3\x9f \xd0\xb4 \xd1\x8f ",
    "Mr. Smith went to Washington. ",
    "a b a b a b a b a b ",
    "\xff\xfe invalid \xed\xa0\x80 bytes \xc3",
};

#define N_TEXTS (sizeof texts / sizeof texts[0])
#define CHAIN_STEPS 6
#define TEXT_CAP 1024

static int32_t saturate32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* The word ids before the cursor as kg_predict reads them: "<s>" and the sentence. */
static size_t predict_context(const kg_db *db, const char *text, size_t len, uint32_t *ctx,
                              size_t *typed)
{
    uint32_t sentence[8];
    size_t hn, sn;
    if (kg_context_ids(db, text, len, NULL, 0, &hn, sentence, 8, &sn, typed) != KG_OK)
        return 0;
    ctx[0] = KG_WORD_BOS;
    memcpy(ctx + 1, sentence, sn * sizeof *sentence);
    return sn + 1;
}

/* kg_predict on text[0..len) (a heap block of exactly that size) with k = 1, 3, KG_MAX_K;
 * checks the answers, and returns the best suggestion's id (or UINT32_MAX). */
static uint32_t predict(const kg_db *db, const char *text, size_t len, int verified,
                        const unsigned char *prefix, size_t prefix_len)
{
    static const size_t ks[] = {1, 3, KG_MAX_K};
    static kg_suggestion out[KG_MAX_K];
    uint32_t v = kg_vocab_size(db), best = UINT32_MAX, ctx[10];
    size_t i, j, n, nctx = 0, typed = 0, wlen;
    const char *w;
    int64_t s;

    if (verified)
        nctx = predict_context(db, text, len, ctx, &typed);
    for (j = 0; j < 3; j++) {
        if (kg_predict(db, text, len, ks[j], out, &n) != KG_OK)
            continue;
        CHECK(n <= ks[j]);
        for (i = 0; i < n; i++) {
            CHECK(out[i].word_id >= FIRST_WORD && out[i].word_id < v);
            /* Rank order: on a damaged file a word may come twice (its children unsorted,
             * a search misses it), and scores saturated to the int32 range may tie. */
            if (i > 0)
                CHECK(out[i - 1].score >= out[i].score);
            if (i > 0 && verified && out[i].score > INT32_MIN && out[i].score < INT32_MAX)
                CHECK(out[i - 1].score > out[i].score || out[i - 1].word_id < out[i].word_id);
            if (kg_word(db, out[i].word_id, &w, &wlen) == KG_OK && wlen)
                CHECK(w[0] != 0 || w[wlen - 1] != 0 || wlen < 1000000); /* touch the bytes */
            if (kg_display(db, out[i].word_id, &w, &wlen) == KG_OK && wlen)
                CHECK(w[0] != 0 || w[wlen - 1] != 0 || wlen < 1000000);
            if (verified && nctx) {
                CHECK(kg_score_word(db, ctx, nctx, out[i].word_id, &s) == KG_OK);
                CHECK(saturate32(s) == out[i].score);
                if (prefix) {
                    CHECK(kg_word(db, out[i].word_id, &w, &wlen) == KG_OK);
                    CHECK(wlen >= prefix_len && memcmp(w, prefix, prefix_len) == 0);
                }
            }
        }
        if (n)
            best = out[0].word_id;
    }
    return best;
}

static char *heap_copy(const char *src, size_t n)
{
    char *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    memcpy(copy, src, n);
    return copy;
}

static void context_ids(const kg_db *db, const char *text, size_t len)
{
    static const size_t caps[] = {0, 1, 8, 300};
    static uint32_t history[300], sentence[300];
    uint32_t v = kg_vocab_size(db);
    size_t i, j, hn, sn, typed;
    for (i = 0; i < 4; i++) {
        if (kg_context_ids(db, text, len, caps[i] ? history : NULL, caps[i], &hn,
                           caps[3 - i] ? sentence : NULL, caps[3 - i], &sn, &typed) != KG_OK)
            continue;
        CHECK(hn <= caps[i] && sn <= caps[3 - i] && typed <= KG_MAX_WORD_BYTES + 1);
        for (j = 0; j < hn; j++)
            CHECK(history[j] < v);
        for (j = 0; j < sn; j++)
            CHECK(sentence[j] < v);
    }
}

/* kg_suggest on text[0..len) with k = 3 and KG_MAX_K, without touch points and with one a
 * character: at most k suggestions and a correction, all of them words. */
static void suggest(const kg_db *db, const char *text, size_t len)
{
    static const size_t ks[] = {3, KG_MAX_K};
    static kg_suggestion out[KG_MAX_K];
    static kg_touch touches[4 * KG_MAX_WORD_BYTES];
    uint32_t v = kg_vocab_size(db);
    kg_layout layout;
    kg_correction c;
    size_t i, j, n, t;
    CHECK(kg_layout_builtin(&layout, "qwerty") == KG_OK);
    for (i = 0; i < sizeof touches / sizeof touches[0]; i++) {
        touches[i].x = (double)(i % 11) - 0.5;
        touches[i].y = (double)(i % 4);
        touches[i].present = i % 4 != 3;
    }
    for (j = 0; j < 2; j++) {
        for (t = 0; t < 2; t++) {
            if (kg_suggest(db, text, len, NULL, 0, &layout, KG_DEFAULT_THRESHOLD, ks[j], out, &n,
                           &c) != KG_OK)
                break;
            if (t == 1 && (!c.typing || c.typed_length > sizeof touches / sizeof touches[0] ||
                           kg_suggest(db, text, len, touches, c.typed_length, &layout, 0, ks[j],
                                      out, &n, &c) != KG_OK))
                break;
            CHECK(n <= ks[j]);
            for (i = 0; i < n; i++)
                CHECK(out[i].word_id >= FIRST_WORD && out[i].word_id < v);
            CHECK(!c.has_correction || (c.word_id >= FIRST_WORD && c.word_id < v));
            CHECK(c.typing || !c.has_correction);
        }
    }
}

/* Every query on one text (a heap block of exactly len bytes). */
static uint32_t query_text(const kg_db *db, const char *text, size_t len, int verified)
{
    int64_t sum;
    uint64_t count;
    context_ids(db, text, len);
    suggest(db, text, len);
    kg_score_text(db, text, len, &sum, &count);
    return predict(db, text, len, verified, NULL, 0);
}

/* Follows the file's predictions: the best next word appended, CHAIN_STEPS times; each
 * text also queried with the first character of that word as a prefix being typed. */
static void follow_predictions(const kg_db *db, int verified)
{
    char buf[TEXT_CAP];
    size_t len = 0, wlen, c;
    uint32_t best = query_text(db, "", 0, verified), step;
    const char *w;
    char *text;
    for (step = 0; step < CHAIN_STEPS && best != UINT32_MAX; step++) {
        if (kg_word(db, best, &w, &wlen) != KG_OK || wlen == 0 || len + wlen + 1 > TEXT_CAP)
            return;
        /* The word's first character, typed: a completion. */
        for (c = 1; c < wlen && ((unsigned char)w[c] & 0xC0) == 0x80; c++)
            ;
        memcpy(buf + len, w, c);
        text = heap_copy(buf, len + c);
        predict(db, text, len + c, verified, (const unsigned char *)w, c);
        free(text);
        memcpy(buf + len, w, wlen);
        len += wlen;
        buf[len++] = ' ';
        text = heap_copy(buf, len);
        best = query_text(db, text, len, verified);
        free(text);
    }
}

static void score_words(const kg_db *db)
{
    uint32_t v = kg_vocab_size(db), ctx[6] = {1, 3, 4, 5, 6, 7}, j;
    size_t i;
    int64_t s;
    for (i = 0; i < 6; i++)
        if (ctx[i] >= v)
            ctx[i] = v ? v - 1 : 0;
    for (i = 0; i <= 6; i++)
        for (j = 0; j < v && j < 24; j++)
            kg_score_word(db, ctx, i, j, &s);
    CHECK(kg_score_word(db, ctx, 1, v, &s) == KG_E_INVALID_ARGUMENT);
}

static void spell_words(const kg_db *db)
{
    uint32_t v = kg_vocab_size(db), j, id;
    const char *w;
    size_t len;
    for (j = 0; j < v; j = j < 32 || j + 32 >= v ? j + 1 : v - 32) {
        if (kg_word(db, j, &w, &len) == KG_OK) {
            if (len)
                CHECK(w[0] != 0 || w[len - 1] != 0 || len < 1000000);
            if (j >= FIRST_WORD && kg_lookup(db, w, len, &id) == KG_OK)
                CHECK(id < v);
        }
        if (kg_display(db, j, &w, &len) == KG_OK && len)
            CHECK(w[0] != 0 || w[len - 1] != 0 || len < 1000000);
    }
    CHECK(kg_display(db, v, &w, &len) == KG_E_INVALID_ARGUMENT);
    CHECK(kg_word(db, v, &w, &len) == KG_E_INVALID_ARGUMENT);
}

static void exercise(const unsigned char *data, size_t size)
{
    kg_db *db;
    const char *json;
    size_t len, t;
    unsigned major, minor, n;
    int verified;
    char *text;
    if (kg_open_buffer(data, size, &db) != KG_OK)
        return;
    verified = kg_verify(db) == KG_OK;
    kg_format_version(db, &major, &minor);
    for (n = 0; n <= kg_order(db) + 1; n++)
        (void)kg_ngram_count(db, n);
    (void)kg_required_features(db);
    (void)kg_optional_features(db);
    (void)kg_ignored_features(db);
    if (kg_metadata(db, &json, &len) == KG_OK && len)
        CHECK(json[0] != 0 || json[len - 1] != 0 || len < 1000000000);
    for (t = 0; t < N_TEXTS; t++) {
        len = strlen(texts[t]);
        text = heap_copy(texts[t], len);
        query_text(db, text, len, verified);
        free(text);
    }
    follow_predictions(db, verified);
    score_words(db);
    spell_words(db);
    kg_close(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *fixed, *moved;
    size_t moved_size;
    if (!crc_table[1])
        crc_init();
    /* libFuzzer passes a heap copy of exactly `size` bytes: a read past it is reported. */
    exercise(data, size);
    fixed = malloc(size ? size : 1);
    if (!fixed)
        abort();
    memcpy(fixed, data, size);
    if (fix_checksums(fixed, size))
        exercise(fixed, size);
    /* One section, chosen by the input's CRC, moved to the end of the file. */
    moved = with_section_last(data, size, crc32_of(data, size), &moved_size);
    if (moved) {
        exercise(moved, moved_size);
        free(moved);
    }
    free(fixed);
    return 0;
}
