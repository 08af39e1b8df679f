/* Declarations shared by the kernel's translation units. Not installed. */
#ifndef KG_INTERNAL_H
#define KG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "keyglide.h"

#if defined(__GNUC__)
#define KG_INLINE static inline __attribute__((always_inline))
#define KG_LIKELY(x) __builtin_expect(!!(x), 1)
#define KG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define KG_INLINE static inline
#define KG_LIKELY(x) (x)
#define KG_UNLIKELY(x) (x)
#endif

/* ---- little-endian loads (any alignment: kg_open_buffer accepts any pointer) ---- */

KG_INLINE uint32_t kg_le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

KG_INLINE uint32_t kg_le24(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

KG_INLINE uint32_t kg_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

KG_INLINE uint64_t kg_le64(const unsigned char *p)
{
    return (uint64_t)kg_le32(p) | (uint64_t)kg_le32(p + 4) << 32;
}

/* ---- sections as columns of fixed-width elements ---- */

typedef struct kg_col {
    const unsigned char *p; /* first byte, inside the file */
    uint64_t n;             /* number of elements */
    unsigned width;         /* bytes per element: 1, 2, 3 or 4 */
    unsigned type;          /* KG_ELEM_* */
    int present;
} kg_col;

/* Element i of an unsigned column; the caller has checked i < c->n. */
KG_INLINE uint32_t kg_col_get(const kg_col *c, uint64_t i)
{
    const unsigned char *q = c->p + (size_t)i * c->width;
    switch (c->width) {
    case 1: return q[0];
    case 2: return kg_le16(q);
    case 3: return kg_le24(q);
    default: return kg_le32(q);
    }
}

/* The first index in [a, b) of column c whose value is >= v (b when none): the reader's
 * bisect_left, so that both read even an unsorted, damaged column alike. The caller keeps
 * [a, b) inside the column. */
KG_INLINE uint64_t kg_col_lower_bound(const kg_col *c, uint64_t a, uint64_t b, uint64_t v)
{
    while (a < b) {
        uint64_t mid = a + (b - a) / 2;
        if (kg_col_get(c, mid) < v)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

/* Entry `code` of a codebook (i32); codes always index inside it (checked at open). */
KG_INLINE int32_t kg_codebook_get(const kg_col *cb, uint32_t code)
{
    return (int32_t)kg_le32(cb->p + (size_t)code * 4);
}

struct kg_db {
    const unsigned char *data;
    size_t size;
    void *map; /* kg_open_path's mapping (its malloc'ed copy without mmap), NULL for
                * kg_open_buffer */
    size_t map_size;

    unsigned major, minor;
    uint64_t required_features, optional_features;
    uint32_t section_count;

    unsigned order;    /* N */
    uint32_t vocab;    /* V */
    uint64_t count[KG_FMT_MAX_ORDER + 2]; /* count[n] for n = 1..N */

    kg_col meta, vocab_offsets, vocab_bytes;
    /* Indexed by order. prob_cb/prob: 1..N; backoff_cb/backoff/children/top_*: 1..N-1;
     * words: 2..N; top_entries: 0..N-1. */
    kg_col prob_cb[KG_FMT_MAX_ORDER + 1], backoff_cb[KG_FMT_MAX_ORDER + 1];
    kg_col words[KG_FMT_MAX_ORDER + 1], prob[KG_FMT_MAX_ORDER + 1];
    kg_col backoff[KG_FMT_MAX_ORDER + 1], children[KG_FMT_MAX_ORDER + 1];
    kg_col top_nodes[KG_FMT_MAX_ORDER + 1], top_starts[KG_FMT_MAX_ORDER + 1];
    kg_col top_entries[KG_FMT_MAX_ORDER + 1];
    kg_col blocklist; /* format 1.1; present only when the feature bit is set */
    /* Format 1.2, present only when the DISPLAY_FORMS bit is set: the form of word
     * display_ids[j] is display_bytes[display_offsets[j], display_offsets[j + 1]). */
    kg_col display_ids, display_offsets, display_bytes;
    /* Format 1.3: the reranker's sections, validated but never run by the kernel. */
    kg_col neural_info, neural_onnx;
};

/* v clamped to the int32 range (a suggestion's score). */
KG_INLINE int32_t kg_saturate32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* The bytes of word id (< V), checked against VOCAB_BYTES. */
KG_INLINE kg_status kg_word_bytes(const kg_db *db, uint32_t id, const unsigned char **p,
                                  size_t *len)
{
    uint32_t a = kg_col_get(&db->vocab_offsets, id);
    uint32_t b = kg_col_get(&db->vocab_offsets, (uint64_t)id + 1);
    if (a > b || b > db->vocab_bytes.n)
        return KG_E_CORRUPT;
    *p = db->vocab_bytes.p + a;
    *len = b - a;
    return KG_OK;
}

/* ---- CRC-32 (crc32.c) ---- */

/* zlib's crc32(): IEEE 802.3 polynomial, reflected; start with crc = 0. */
uint32_t kg_crc32(uint32_t crc, const unsigned char *p, size_t n);

/* ---- JSON (json.c) ---- */

/* Whether p[0..n) is one JSON object as Python's json.loads accepts it after a strict
 * UTF-8 decode, nested at most META_MAX_DEPTH (64) arrays and objects deep. */
int kg_json_is_object(const unsigned char *p, size_t n);

/* Whether a META object (one kg_json_is_object accepted) passes the reader's
 * meta_problem(): every key of FORMAT.md section 7, tokenizer keyglide-text-1, order,
 * vocab_size and ngram_counts (count_1 .. count_N, `counts[0..order)`) JSON integers equal
 * to the sections', language and data_version strings. */
int kg_json_meta_matches(const unsigned char *p, size_t n, unsigned order, uint64_t vocab,
                         const uint64_t *counts);

/* ---- words (db.c) ---- */

/* The id of the word with bytes s[0..n) among ids >= 3: KG_OK, KG_E_NOT_FOUND or
 * KG_E_CORRUPT. */
kg_status kg_find_word(const kg_db *db, const unsigned char *s, size_t n, uint32_t *id);

/* The ids [*lo, *hi) of the words (ids >= 3) whose bytes start with s[0..n). */
kg_status kg_prefix_range(const kg_db *db, const unsigned char *s, size_t n, uint32_t *lo,
                          uint32_t *hi);

/* ---- text (text.c) ---- */

/* Decodes one UTF-8 sequence at p (< end). Returns its length (>= 1); *cp is the code
 * point, or KG_CP_INVALID for an invalid sequence, of which one byte is consumed. */
#define KG_CP_INVALID 0xFFFFFFFFu
size_t kg_utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *cp);

/* Whether cp is a word character (general category L, M or N, Unicode 14.0). */
int kg_is_word_char(uint32_t cp);

/* A folded token. too_long: its folded form exceeds KG_MAX_WORD_BYTES (bytes then holds
 * a useless partial fold). cps: its length in code points (counted even when too long). */
typedef struct kg_token {
    unsigned char bytes[KG_MAX_WORD_BYTES];
    size_t len;
    int too_long;
    size_t cps;
} kg_token;

/* The contract's fold of one code point of a token: simple lowercase, and the joiners
 * beyond ASCII as JOINER_FOLDS says (U+2019 as ', U+2010 and U+2011 as -). */
uint32_t kg_fold_cp(uint32_t cp);

/* Events of the text drivers below. A callback returns KG_OK to go on, anything else to
 * stop the driver, which returns that status. */
typedef kg_status (*kg_sentence_fn)(void *user, const kg_token *token); /* NULL: end */

/* Calls fn(user, token) for every token and fn(user, NULL) at the end of every sentence
 * (FORMAT.md section 6: the sentences a text is scored as). */
kg_status kg_text_sentences(const unsigned char *text, size_t len, kg_sentence_fn fn,
                            void *user);

/* The cursor: calls fn(user, token) for every token that is context (before the word being
 * typed, if any) and fn(user, NULL) whenever the sentence ends, so that the tokens passed
 * since the last NULL are the context. *has_prefix tells whether the text ends inside a
 * word; then *prefix is its fold (one trailing joiner included). */
kg_status kg_text_cursor(const unsigned char *text, size_t len, kg_sentence_fn fn, void *user,
                         kg_token *prefix, int *has_prefix);

/* Where to start reading text[0..len) to see only its end: the offset just after an ASCII
 * white-space byte from which more than `tokens` tokens follow, or 0 (the whole text) when
 * the text is not much longer than that; *count receives the number of tokens from there.
 * Only the first token of the tail can be read differently from the whole text (its
 * sentence start depends on what precedes it), so a reader of the last `tokens - 1` tokens
 * and their sentence boundaries reads the same from the tail, in a time that does not grow
 * with the text's length. */
size_t kg_text_tail(const unsigned char *text, size_t len, size_t tokens, size_t *count);

/* Whether bytes[0..n) is exactly one token of the contract that is already folded. */
int kg_text_is_folded_word(const unsigned char *bytes, size_t n);

/* Whether form[0..n) is strict UTF-8 (as kg_utf8_decode: no surrogates, no overlong forms)
 * whose code points, each folded as the contract folds a token's (simple lowercase, U+2019
 * as ', U+2010 and U+2011 as -), are exactly the code points of word[0..m) (strict UTF-8
 * too): text.py's `fold(form.decode()) == word.decode()` (FORMAT.md section 10). */
int kg_text_folds_to(const unsigned char *form, size_t n, const unsigned char *word, size_t m);

/* ---- prediction (predict.c) ---- */

/* Level j of a context of m ids (j = m .. 0): the node of its last j ids and their
 * children, which score there. */
typedef struct kg_level {
    int present;     /* the node is in the trie (level 0 always is) */
    uint64_t a, b;   /* the node's children, at order j + 1 */
    uint64_t node;   /* the node's index at order j (j >= 1) */
    int64_t backoff; /* its backoff (0 for level 0) */
} kg_level;

/* A top-k search over the levels of one context. */
typedef struct kg_search {
    const kg_db *db;
    unsigned m;                  /* context length: levels m .. 0 */
    kg_level lv[KG_FMT_MAX_ORDER];
    int distinct;                /* a word offered twice keeps its best score (else each
                                  * word is offered at most once, as kg_predict does) */
    uint32_t last_lo;            /* distinct: the last range offered began there, and */
    uint64_t from[KG_FMT_MAX_ORDER]; /* level j's children from from[j] on are >= it */
    size_t k, n;                 /* wanted, found so far */
    int64_t score[KG_MAX_K];     /* best first: score descending, then id ascending */
    uint32_t word[KG_MAX_K];
} kg_search;

/* Reads the text before the cursor: ctx[0..*m) the context ids (<s> and the current
 * sentence's last tokens, the last N - 1; ctx holds KG_FMT_MAX_ORDER), and the word being
 * typed (*has_prefix, *prefix), as kg_predict reads them. */
kg_status kg_read_cursor(const kg_db *db, const unsigned char *text, size_t len, uint32_t *ctx,
                         unsigned *m, kg_token *prefix, int *has_prefix);

/* kg_predict after kg_read_cursor: the next word (prefix NULL) or the completions of
 * *prefix. */
kg_status kg_predict_cursor(const kg_db *db, const uint32_t *ctx, unsigned m,
                            const kg_token *prefix, size_t k, kg_suggestion *out,
                            size_t *n_out);

/* An empty top-k search (k <= KG_MAX_K) over the levels of context ctx[0..m) (ids < V,
 * m < N). */
kg_status kg_search_init(kg_search *S, const kg_db *db, const uint32_t *ctx, unsigned m,
                         size_t k, int distinct);

/* Offers every word of ids [lo, hi) (ids >= 3) to the search at its score plus `shift`:
 * afterwards the search holds the top k of all it was offered. Fastest when the ranges
 * come in order of lo (as a walk of the vocabulary in byte order offers them). */
kg_status kg_search_range(kg_search *S, int64_t shift, uint32_t lo, uint32_t hi);

/* score(w | context) of FORMAT.md section 5 from the search's levels. */
kg_status kg_search_score(const kg_search *S, uint32_t w, int64_t *score);

/* Whether word w is in the blocklist (format 1.1): a binary search of its entries. */
int kg_blocked(const kg_db *db, uint32_t w);

#endif
