/* The typing decoder keyglide-typing-1 (kg_suggest) and keyboard layouts (kg_layout_*),
 * exactly as sdk/keyglide/decoder.py and keyboard.py define them (their docstrings are the
 * specification; FORMAT.md section 12 summarises it). The penalties, the edit schedule and
 * the shipped layouts come from the Python SDK, generated into typing_tables.h.
 *
 * The vocabulary (ids >= 3, sorted by UTF-8 bytes) is walked depth first as an implicit
 * character trie: a node is the id range of the words that start with its prefix, and its
 * children are found by searching the words' bytes. Each node's row of the alignment table
 * (cell [j][e]: the least penalty of spelling the node's prefix with the first j keystrokes
 * and e edits) is computed from its parent's and grandparent's, only over the columns that
 * can hold a cell. A node whose row is empty is not walked further, but for the
 * transpositions that skip it; so the edit budget, not the vocabulary, bounds the work.
 * When a node cannot omit its children's characters (no cell with an edit to spare), only
 * the few characters that can give a child a cell are looked up (plan_children), which
 * keeps wide nodes cheap. A node whose row consumed every keystroke offers its id range at
 * its penalty to one top-k search over the context's levels (predict.c), which keeps for
 * each word its best score; a node whose first word is its prefix is a whole-word
 * candidate for the correction. The order of the walk changes none of the answers.
 *
 * No allocation: the rows, the path and the search live in one struct on the stack. Every
 * id and offset read from the file is checked before use, and bytes that cannot be a
 * sorted vocabulary of UTF-8 words give KG_E_CORRUPT. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "typing_tables.h"

#if KG_TYPING_MAX_DECODE != KG_MAX_DECODE || KG_TYPING_GRID != KG_LAYOUT_GRID ||            \
    KG_TYPING_MAX_KEYS != KG_MAX_KEYS || KG_TYPING_MAX_KEY_CHARS != KG_MAX_KEY_CHARS
#error "keyglide.h and typing_tables.h disagree: run native/tools/gen_sdk_headers.py"
#endif

#define NO_KEY (-1)
#define ALL_CHARS (KG_MAX_KEYS * KG_MAX_KEY_CHARS)

/* ---- layouts ---- */

/* floor(v * GRID + 0.5) (keyboard.quantize) for |v| <= MAX_COORDINATE, checked by the
 * caller. The product is exact and the sum is rounded once, to a double, as in Python. */
static int32_t quantize(double v)
{
    double t = v * KG_TYPING_GRID + 0.5;
    int32_t i = (int32_t)t; /* toward zero: one less for a negative non-integer */
    return (double)i > t ? i - 1 : i;
}

/* qsort's comparison of two uint32_t. */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Whether lo <= v <= hi (never for NaN). */
KG_INLINE int in_range(double v, double lo, double hi) { return v >= lo && v <= hi; }

kg_status kg_layout_init(kg_layout *out, const kg_key_spec *keys, size_t n)
{
    kg_layout L;
    size_t i, c;
    if (!out || !keys || n < 1 || n > KG_TYPING_MAX_KEYS)
        return KG_E_INVALID_ARGUMENT;
    memset(&L, 0, sizeof L);
    L.private_keys = (uint32_t)n;
    for (i = 0; i < n; i++) {
        const kg_key_spec *k = &keys[i];
        const unsigned char *p = (const unsigned char *)k->chars, *end;
        size_t count = 0;
        if (!p || k->chars_len == 0)
            return KG_E_INVALID_ARGUMENT;
        for (end = p + k->chars_len; p < end; count++) {
            uint32_t cp;
            p += kg_utf8_decode(p, end, &cp);
            /* Strict UTF-8 (no surrogates), folded, not a space, not NUL. */
            if (cp == KG_CP_INVALID || count == KG_TYPING_MAX_KEY_CHARS || cp == 0 ||
                layout_space(cp) || kg_fold_cp(cp) != cp)
                return KG_E_INVALID_ARGUMENT;
            L.private_char[L.private_chars++] = cp << 8 | (uint32_t)i;
        }
        if (!in_range(k->x, -KG_TYPING_MAX_COORDINATE, KG_TYPING_MAX_COORDINATE) ||
            !in_range(k->y, -KG_TYPING_MAX_COORDINATE, KG_TYPING_MAX_COORDINATE) ||
            !in_range(k->width, 1.0 / KG_TYPING_GRID, KG_TYPING_MAX_KEY_SIZE) ||
            !in_range(k->height, 1.0 / KG_TYPING_GRID, KG_TYPING_MAX_KEY_SIZE))
            return KG_E_INVALID_ARGUMENT;
        L.private_grid[4 * i] = quantize(k->x);
        L.private_grid[4 * i + 1] = quantize(k->y);
        L.private_grid[4 * i + 2] = quantize(k->width);
        L.private_grid[4 * i + 3] = quantize(k->height);
    }
    /* By code point: a character on two keys (or twice on one) is two equal neighbours. */
    qsort(L.private_char, L.private_chars, sizeof L.private_char[0], cmp_u32);
    for (c = 0; c < L.private_chars; c++) {
        uint32_t cp = L.private_char[c] >> 8;
        if (c > 0 && cp == L.private_char[c - 1] >> 8)
            return KG_E_INVALID_ARGUMENT;
        if (cp < 128)
            L.private_ascii[cp] = (unsigned char)((L.private_char[c] & 0xFF) + 1);
    }
    *out = L;
    return KG_OK;
}

kg_status kg_layout_builtin(kg_layout *out, const char *name)
{
    size_t i;
    if (!out || !name)
        return KG_E_INVALID_ARGUMENT;
    for (i = 0; i < sizeof builtin_layouts / sizeof builtin_layouts[0]; i++)
        if (strcmp(name, builtin_layouts[i].name) == 0)
            return kg_layout_init(out, builtin_layouts[i].keys, builtin_layouts[i].count);
    return KG_E_INVALID_ARGUMENT;
}

/* Whether a layout holds what kg_layout_init writes, as far as the decoder relies on it:
 * so that a struct never filled cannot make it divide by zero or read outside it. */
static int layout_usable(const kg_layout *L)
{
    uint32_t i;
    const int32_t grid = (int32_t)(KG_TYPING_MAX_COORDINATE * KG_TYPING_GRID);
    const int32_t size = (int32_t)(KG_TYPING_MAX_KEY_SIZE * KG_TYPING_GRID);
    if (L->private_keys < 1 || L->private_keys > KG_TYPING_MAX_KEYS ||
        L->private_chars > ALL_CHARS)
        return 0;
    for (i = 0; i < L->private_keys; i++) {
        const int32_t *g = &L->private_grid[4 * i];
        if (g[0] < -grid || g[0] > grid || g[1] < -grid || g[1] > grid || g[2] < 1 ||
            g[2] > size || g[3] < 1 || g[3] > size)
            return 0;
    }
    return 1;
}

/* The key that types cp (its own character or an alternate), or NO_KEY. */
static int key_of(const kg_layout *L, uint32_t cp)
{
    uint32_t lo = 0, hi = L->private_chars, key;
    if (cp < 128) {
        key = L->private_ascii[cp];
        return key >= 1 && key <= L->private_keys ? (int)key - 1 : NO_KEY;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (L->private_char[mid] >> 8 < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == L->private_chars || L->private_char[lo] >> 8 != cp)
        return NO_KEY;
    key = L->private_char[lo] & 0xFF;
    return key < L->private_keys ? (int)key : NO_KEY;
}

/* ---- the decoder ---- */

typedef int32_t cell;   /* a penalty (below KG_TYPING_PENALTY_BOUND), or NONE */
#define NONE INT32_MAX
#define COLUMNS (KG_TYPING_MAX_DECODE + 1)
#define LAYERS (KG_TYPING_MAX_EDITS + 1)
#define DEPTH (KG_MAX_WORD_BYTES + 1) /* the root and at most one node a byte */

/* One keystroke: the folded character, its key, and where it was touched (a touch, or
 * the key's centre; none off the layout). */
typedef struct stroke {
    uint32_t cp;
    int key;
    int has_point;
    int64_t x, y;
} stroke;

/* A trie node on the path being walked. */
typedef struct node {
    uint32_t lo, hi;  /* its words */
    size_t len;       /* its prefix's length in bytes */
    uint32_t cp;      /* the character that leads to it (not at the root) */
    int key;          /* that character's key */
    int jlo, jhi;     /* the columns of its row that hold a cell (jlo > jhi: none) */
    /* How its children are walked (plan_children). `any`: any child may hold a cell (the
     * node can omit its character). Otherwise only the characters of keystrokes `exact`
     * (bit i: keystroke i), of the keys in `keys` (a bit each) and the joiners (if
     * `joiners`) can give one a cell. `all`: every child is enumerated, from `next` (the
     * first word of the next one), those characters telling which to compute (may_live);
     * else the characters are looked up in code point order, from `after` (the layout's
     * characters scanned from `tpos`), walking the words forward from `next`. A node
     * without cells is walked only for the transpositions that skip it: its `exact`
     * keystrokes alone. */
    int all, any;
    uint32_t next;
    uint32_t exact, keys[KG_MAX_KEYS / 32];
    int joiners;
    uint32_t after, tpos;
} node;

typedef struct decoder {
    const kg_db *db;
    const kg_layout *layout;
    int m, budget;                  /* keystrokes, edits allowed */
    stroke t[KG_TYPING_MAX_DECODE];
    /* spatial cost of keystroke j on key k at [j * keys + k], -1 until computed */
    int32_t spatial[KG_TYPING_MAX_DECODE * KG_MAX_KEYS];
    unsigned char prefix[KG_MAX_WORD_BYTES + 4]; /* the path's bytes (and a character) */
    node path[DEPTH];
    cell row[DEPTH][COLUMNS][LAYERS];
    kg_search S;                    /* the strip */
    uint32_t typed_id;              /* the typed word's id, or KG_ID_UNK */
    int has_correction;
    uint32_t correction_id;
    int64_t correction_score;
} decoder;

/* decoder.spatial_cost of keystroke j's point on key k (both present). */
static int32_t spatial(decoder *D, int j, int k)
{
    int32_t *slot = &D->spatial[j * (int)D->layout->private_keys + k];
    if (*slot < 0) {
        const int32_t *g = &D->layout->private_grid[4 * k];
        int64_t dx = D->t[j].x - g[0], dy = D->t[j].y - g[1];
        int64_t w2 = (int64_t)g[2] * g[2], h2 = (int64_t)g[3] * g[3];
        int64_t cost = KG_TYPING_SPATIAL_WEIGHT * dx * dx / w2 +
                       KG_TYPING_SPATIAL_WEIGHT * dy * dy / h2;
        *slot = cost < KG_TYPING_SPATIAL_CAP ? (int32_t)cost : KG_TYPING_SPATIAL_CAP;
    }
    return *slot;
}

/* decoder._touch: the spatial cost of keystroke j on key k, 0 without a key or a point. */
KG_INLINE int32_t touch(decoder *D, int j, int k)
{
    return k == NO_KEY || !D->t[j].has_point ? 0 : spatial(D, j, k);
}

/* decoder._match: keystroke j typed for character cp (on key k). Returns 0 when it may
 * not be, else 1 with *cost and *edits. */
static int match(decoder *D, int j, uint32_t cp, int k, cell *cost, int *edits)
{
    const stroke *s = &D->t[j];
    int32_t sp;
    if (cp == s->cp) {
        *cost = touch(D, j, k);
        *edits = 0;
        return 1;
    }
    if (k == NO_KEY || !s->has_point)
        return 0;
    sp = spatial(D, j, k);
    if (k == s->key) { /* an alternate of the key typed: an accent */
        *cost = KG_TYPING_ACCENT + sp;
        *edits = 0;
        return 1;
    }
    if (sp > KG_TYPING_SUBSTITUTION_LIMIT)
        return 0;
    *cost = sp; /* a neighbouring key: a substitution */
    *edits = 1;
    return 1;
}

/* *best = min(*best, from + cost), a cell `from` of NONE offering nothing. */
KG_INLINE void take(cell *best, cell from, cell cost)
{
    if (from != NONE && from + cost < *best)
        *best = from + cost;
}

/* decoder._row: the row of path[d] (d >= 1) from its parent's and grandparent's. Returns
 * whether it holds any cell. Cells are computed over the columns its parent's and
 * grandparent's cells can reach (plus insertions); the others are none and never read. */
static int compute_row(decoder *D, int d)
{
    const node *P = &D->path[d - 1], *G = d >= 2 ? &D->path[d - 2] : NULL;
    node *C = &D->path[d];
    cell(*row)[LAYERS] = D->row[d];
    cell(*parent)[LAYERS] = D->row[d - 1];
    cell(*grand)[LAYERS] = d >= 2 ? D->row[d - 2] : NULL;
    const uint32_t c = C->cp, before = P->cp;
    const int kc = C->key, kb = P->key, budget = D->budget;
    const int joiner = typing_joiner(c);
    const cell omit = G && c == before ? KG_TYPING_DOUBLE : KG_TYPING_OMIT;
    int lo = P->jlo, hi = P->jhi + 1, j, e, first = -1, last = -1, spare;

    if (G && G->jlo <= G->jhi) {
        if (G->jlo + 2 < lo)
            lo = G->jlo + 2;
        if (G->jhi + 2 > hi)
            hi = G->jhi + 2;
    }
    if (lo < 1)
        lo = 1; /* nothing is spelled before the first keystroke */
    if (hi > D->m)
        hi = D->m;
    /* Columns lo .. hi: the parent's (omission), one more (match) and the grandparent's
     * two more (transposition); after them, only insertions (below). */
    for (j = lo; j <= hi; j++) {
        const int from_parent = j >= P->jlo && j <= P->jhi;
        cell matched = 0, inserted = 0, swapped = 0;
        int edits = 0, can_match, can_insert = j >= 2 && j - 1 >= lo, can_swap = 0;
        /* Keystroke j typed for c. */
        can_match = j - 1 >= P->jlo && j - 1 <= P->jhi &&
                    match(D, j - 1, c, kc, &matched, &edits);
        /* Keystroke j inserted (doubled when it repeats the one before). */
        if (can_insert)
            inserted = D->t[j - 1].cp == D->t[j - 2].cp ? KG_TYPING_DOUBLE : KG_TYPING_INSERT;
        /* Keystrokes j - 1, j typed for (before, c) swapped. */
        if (G && j >= 2 && before != c && D->t[j - 2].cp == c && D->t[j - 1].cp == before &&
            j - 2 >= G->jlo && j - 2 <= G->jhi) {
            can_swap = 1;
            swapped = KG_TYPING_TRANSPOSE + touch(D, j - 2, kc) + touch(D, j - 1, kb);
        }
        for (e = 0; e <= budget; e++) {
            cell best = NONE;
            if (from_parent) { /* c omitted */
                if (joiner)
                    take(&best, parent[j][e], KG_TYPING_JOINER);
                else if (e >= 1)
                    take(&best, parent[j][e - 1], omit);
            }
            if (can_match && e >= edits)
                take(&best, parent[j - 1][e - edits], matched);
            if (can_insert && e >= 1)
                take(&best, row[j - 1][e - 1], inserted);
            if (can_swap && e >= 1)
                take(&best, grand[j - 2][e - 1], swapped);
            row[j][e] = best;
            if (best != NONE) {
                if (first < 0)
                    first = j;
                last = j;
            }
        }
    }
    /* Further columns hold insertions only: while the one before has an edit to spare. */
    for (spare = last == hi; spare && j <= D->m; j++) {
        const cell inserted =
            D->t[j - 1].cp == D->t[j - 2].cp ? KG_TYPING_DOUBLE : KG_TYPING_INSERT;
        spare = 0;
        row[j][0] = NONE;
        for (e = 1; e <= budget; e++) {
            cell from = row[j - 1][e - 1];
            row[j][e] = from == NONE ? NONE : from + inserted;
            if (from == NONE)
                continue;
            last = j;
            spare |= e < budget;
        }
    }
    C->jlo = first < 0 ? 1 : first;
    C->jhi = first < 0 ? 0 : last;
    return first >= 0;
}

/* Whether word id holds bytes s[0..n) at offset at. */
static kg_status holds(const kg_db *db, uint32_t id, size_t at, const unsigned char *s,
                       size_t n, int *yes)
{
    const unsigned char *p;
    size_t len;
    kg_status st = kg_word_bytes(db, id, &p, &len);
    if (st != KG_OK)
        return st;
    *yes = 0;
    if (len < at + n)
        return KG_OK;
    for (p += at; n; n--) /* a character: a call to memcmp costs more */
        if (*p++ != *s++)
            return KG_OK;
    *yes = 1;
    return KG_OK;
}

/* The end of the run of words from id i (< hi) that hold s[0..n) at offset at (word i
 * does): the first id in (i, hi) whose word does not, or hi. The words of a node are
 * sorted, so the run is found by galloping from i, then bisecting: a child of few words
 * costs few comparisons, however many its parent has. */
static kg_status run_end(const kg_db *db, uint32_t i, uint32_t hi, size_t at,
                         const unsigned char *s, size_t n, uint32_t *end)
{
    uint32_t good = i, bad = hi, step = 1;
    int yes;
    kg_status st;
    while (step < hi - good) {
        if ((st = holds(db, good + step, at, s, n, &yes)) != KG_OK)
            return st;
        if (!yes) {
            bad = good + step;
            break;
        }
        good += step;
        step *= 2;
    }
    while (bad - good > 1) {
        uint32_t mid = good + (bad - good) / 2;
        if ((st = holds(db, mid, at, s, n, &yes)) != KG_OK)
            return st;
        if (yes)
            good = mid;
        else
            bad = mid;
    }
    *end = bad;
    return KG_OK;
}

/* A node that consumed every keystroke: its words [lo, hi) at `penalty` for the strip,
 * and word lo for the correction when it is the prefix itself (`whole`). */
static kg_status offer_node(decoder *D, uint32_t lo, uint32_t hi, cell penalty, int whole)
{
    int64_t lm, score;
    kg_status st;
    if ((st = kg_search_range(&D->S, -(int64_t)penalty, lo, hi)) != KG_OK)
        return st;
    if (!whole || lo == D->typed_id || kg_blocked(D->db, lo))
        return KG_OK;
    if ((st = kg_search_score(&D->S, lo, &lm)) != KG_OK)
        return st;
    score = lm - penalty;
    if (!D->has_correction || score > D->correction_score ||
        (score == D->correction_score && lo < D->correction_id)) {
        D->has_correction = 1;
        D->correction_id = lo;
        D->correction_score = score;
    }
    return KG_OK;
}

/* The first child of a node of words [lo, hi) with a prefix of len bytes: lo, or lo + 1
 * when word lo is the prefix itself (it has no next character). */
static kg_status first_child(const kg_db *db, uint32_t lo, uint32_t hi, size_t len,
                             uint32_t *next)
{
    const unsigned char *p;
    size_t n;
    kg_status st;
    *next = lo;
    if (lo < hi) {
        if ((st = kg_word_bytes(db, lo, &p, &n)) != KG_OK)
            return st;
        *next = lo + (n == len);
    }
    return KG_OK;
}

/* The next child of node P (its words hold the path's bytes D->prefix[0..P->len)) when all
 * are walked: *found, and then its first word *i, its end *end, its character *cp and that
 * character's UTF-8, *n bytes at D->prefix + P->len. */
static kg_status next_child(decoder *D, node *P, int *found, uint32_t *i, uint32_t *end,
                            uint32_t *cp, size_t *n)
{
    const unsigned char *p;
    size_t len;
    kg_status st;
    *found = 0;
    if (P->next >= P->hi)
        return KG_OK;
    *i = P->next;
    /* Word i starts the next child: the prefix, then its next character. */
    if ((st = kg_word_bytes(D->db, *i, &p, &len)) != KG_OK)
        return st;
    if (len <= P->len || memcmp(p, D->prefix, P->len) != 0)
        return KG_E_CORRUPT; /* not sorted, or the prefix twice */
    *n = kg_utf8_decode(p + P->len, p + len, cp);
    if (*cp == KG_CP_INVALID || P->len + *n > KG_MAX_WORD_BYTES)
        return KG_E_CORRUPT;
    memcpy(D->prefix + P->len, p + P->len, *n);
    if ((st = run_end(D->db, *i, P->hi, P->len, p + P->len, *n, end)) != KG_OK)
        return st;
    P->next = *end;
    *found = 1;
    return KG_OK;
}

/* The UTF-8 of a code point (< 0x110000) into b; returns its length. */
static size_t utf8_encode(uint32_t cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Whether key k is in the set `keys` (a bit a key). */
KG_INLINE int has_key(const uint32_t *keys, int k) { return keys[k >> 5] >> (k & 31) & 1u; }

/* The next character to look up below a node whose children are not all walked: the
 * least at or after P->after among its keystrokes, keys and joiners; 0 when none is left
 * (U+0000 is no word's character). */
static uint32_t next_candidate(const decoder *D, node *P)
{
    const kg_layout *L = D->layout;
    uint32_t best = 0xFFFFFFFFu, bits = P->exact;
    int i;
    for (i = 0; bits; i++, bits >>= 1)
        if (bits & 1u && D->t[i].cp >= P->after && D->t[i].cp < best)
            best = D->t[i].cp;
    for (i = 0; P->joiners && i < (int)(sizeof typing_joiners / sizeof typing_joiners[0]); i++)
        if (typing_joiners[i] >= P->after && typing_joiners[i] < best)
            best = typing_joiners[i];
    for (; P->tpos < L->private_chars; P->tpos++) { /* the chars of the keys, by code point */
        uint32_t entry = L->private_char[P->tpos], key = entry & 0xFF;
        if (entry >> 8 >= P->after && key < KG_MAX_KEYS && has_key(P->keys, (int)key)) {
            if (entry >> 8 < best)
                best = entry >> 8;
            break;
        }
    }
    return best == 0xFFFFFFFFu ? 0 : best;
}

/* Byte order of word id's bytes from offset `at` against s[0..n): *cmp < 0, 0 (the word
 * holds s there) or > 0. */
static kg_status compare_at(const kg_db *db, uint32_t id, size_t at, const unsigned char *s,
                            size_t n, int *cmp)
{
    const unsigned char *p;
    size_t len, k;
    kg_status st = kg_word_bytes(db, id, &p, &len);
    if (st != KG_OK)
        return st;
    *cmp = 0;
    for (k = 0; k < n && *cmp == 0; k++)
        *cmp = at + k < len ? (int)p[at + k] - (int)s[k] : -1;
    return KG_OK;
}

/* The first id in [i, hi) whose bytes from offset `at` are >= s[0..n), or hi, galloping
 * from i: the words are sorted, and the next child is usually near. */
static kg_status seek(const kg_db *db, uint32_t i, uint32_t hi, size_t at,
                      const unsigned char *s, size_t n, uint32_t *found)
{
    uint32_t below = i, above = hi, step = 1; /* ids < below are less than s */
    int c;
    kg_status st;
    while (step <= hi - below) {
        uint32_t probe = below + step - 1;
        if ((st = compare_at(db, probe, at, s, n, &c)) != KG_OK)
            return st;
        if (c >= 0) {
            above = probe;
            break;
        }
        below = probe + 1;
        step *= 2;
    }
    while (below < above) {
        uint32_t mid = below + (above - below) / 2;
        if ((st = compare_at(db, mid, at, s, n, &c)) != KG_OK)
            return st;
        if (c < 0)
            below = mid + 1;
        else
            above = mid;
    }
    *found = below;
    return KG_OK;
}

/* The next child of node P among the characters next_candidate gives: P's words are
 * walked forward from P->next (the words and the characters are both in code point order),
 * reading the character each lands on, so that absent characters cost little. As
 * next_child. */
static kg_status next_candidate_child(decoder *D, node *P, int *found, uint32_t *i,
                                      uint32_t *end, uint32_t *cp, size_t *n)
{
    const kg_db *db = D->db;
    unsigned char *s = D->prefix + P->len;
    kg_status st;
    *found = 0;
    while (P->next < P->hi && (*cp = next_candidate(D, P)) != 0) {
        const unsigned char *p;
        size_t len;
        uint32_t here;
        if ((st = kg_word_bytes(db, P->next, &p, &len)) != KG_OK)
            return st;
        if (len <= P->len || memcmp(p, D->prefix, P->len) != 0)
            return KG_E_CORRUPT; /* not sorted, or the prefix twice */
        *n = kg_utf8_decode(p + P->len, p + len, &here);
        if (here == KG_CP_INVALID || P->len + *n > KG_MAX_WORD_BYTES)
            return KG_E_CORRUPT;
        if (here > *cp) { /* no child between: skip to the characters from `here` */
            P->after = here;
            continue;
        }
        if (here < *cp) { /* the first word whose character is >= cp */
            size_t k = utf8_encode(*cp, s);
            uint32_t at;
            if ((st = seek(db, P->next, P->hi, P->len, s, k, &at)) != KG_OK)
                return st;
            if (at == P->next) /* only on a damaged file: make progress */
                at++;
            P->next = at;
            continue;
        }
        memcpy(s, p + P->len, *n);
        if ((st = run_end(db, P->next, P->hi, P->len, s, *n, end)) != KG_OK)
            return st;
        *i = P->next;
        P->next = *end;
        P->after = *cp + 1;
        *found = 1;
        return KG_OK;
    }
    return KG_OK;
}

/* Whether node path[d] has a cell at column j with fewer than `edits` edits. */
KG_INLINE int cell_below(const decoder *D, int d, int j, int edits)
{
    int e;
    if (j < D->path[d].jlo || j > D->path[d].jhi)
        return 0;
    for (e = 0; e < edits; e++)
        if (D->row[d][j][e] != NONE)
            return 1;
    return 0;
}

/* Words of a node below which its children are all enumerated, even when only a few
 * characters can give one a cell: enumerating a few words costs less than looking up each
 * of those characters (the others are then told apart by may_live, not by their rows). */
#define ENUMERATE_BELOW 8

/* How the children of node path[d] (which has cells) are walked. Any child may hold a cell
 * when the node can omit it (a cell at a column j >= 1 with an edit to spare). Otherwise
 * a child needs a keystroke j of a column with a cell (its character or, with a point,
 * another on its key; at the root, with an edit to spare, any on a key near enough for a
 * substitution, and the next keystroke's for a transposition that skips the child), a
 * joiner (below the root), or a transposition from the node's parent. */
static void plan_children(decoder *D, int d)
{
    node *N = &D->path[d];
    int j, k;
    N->any = 0;
    N->next = N->lo;
    N->exact = 0;
    memset(N->keys, 0, sizeof N->keys);
    N->joiners = d >= 1;
    N->after = 1;
    N->tpos = 0;
    for (j = N->jlo > 1 ? N->jlo : 1; j <= N->jhi && !N->any; j++)
        N->any = cell_below(D, d, j, D->budget); /* any child: c omitted */
    N->all = N->any || N->hi - N->lo < ENUMERATE_BELOW;
    if (N->any)
        return;
    for (j = N->jlo; j <= N->jhi && j < D->m; j++) {
        const stroke *t = &D->t[j];
        if (!cell_below(D, d, j, D->budget + 1))
            continue;
        N->exact |= 1u << j;
        if (t->has_point && t->key != NO_KEY)
            N->keys[t->key >> 5] |= 1u << (t->key & 31);
        if (cell_below(D, d, j, D->budget)) { /* the root, with an edit to spare */
            if (t->has_point)
                for (k = 0; k < (int)D->layout->private_keys; k++)
                    if (spatial(D, j, k) <= KG_TYPING_SUBSTITUTION_LIMIT)
                        N->keys[k >> 5] |= 1u << (k & 31);
            if (j + 1 < D->m)
                N->exact |= 1u << (j + 1);
        }
    }
    for (j = 2; d >= 1 && j <= D->m; j++)
        if (D->t[j - 1].cp == N->cp && cell_below(D, d - 1, j - 2, D->budget))
            N->exact |= 1u << (j - 2);
}

/* Whether a child of N spelled by cp (on key k) may hold a cell, or matter to a
 * transposition that skips it: plan_children's characters. */
static int may_live(const decoder *D, const node *N, uint32_t cp, int k)
{
    uint32_t bits = N->exact;
    int i;
    if (N->any || (N->joiners && typing_joiner(cp)) || (k != NO_KEY && has_key(N->keys, k)))
        return 1;
    for (i = 0; bits; i++, bits >>= 1)
        if (bits & 1u && D->t[i].cp == cp)
            return 1;
    return 0;
}

/* decoder.Decoder._swaps: the keystrokes i (bits) whose characters can follow a node
 * spelled by cp below node P (P's row at column i holds a cell with an edit to spare) when
 * that node has no cell: transposing keystrokes i, i + 1 (typed as cp then that character)
 * reaches the grandchild without it. */
static uint32_t swaps_below(const decoder *D, int d, uint32_t cp)
{
    const node *P = &D->path[d];
    uint32_t mask = 0;
    int j, e, a;
    for (j = 2; j <= D->m; j++) {
        if (D->t[j - 1].cp != cp || j - 2 < P->jlo || j - 2 > P->jhi)
            continue;
        for (a = 0; a < j - 2 && !(mask >> a & 1u && D->t[a].cp == D->t[j - 2].cp); a++)
            ;
        if (a < j - 2)
            continue; /* its character is in already */
        for (e = 0; e < D->budget; e++)
            if (D->row[d][j - 2][e] != NONE) {
                mask |= 1u << (j - 2);
                break;
            }
    }
    return mask;
}

/* decoder.Decoder.nodes: the depth-first walk of the trie, every node whose row holds a
 * cell (and below those that have none, the transpositions that skip them), offering those
 * that consumed every keystroke. */
static kg_status walk(decoder *D)
{
    const kg_db *db = D->db;
    int d = 0, e;
    kg_status st;
    node *root = &D->path[0];

    root->lo = KG_FIRST_WORD_ID;
    root->hi = db->vocab > KG_FIRST_WORD_ID ? db->vocab : KG_FIRST_WORD_ID;
    root->len = 0;
    root->cp = 0;
    root->key = NO_KEY;
    root->jlo = root->jhi = 0;
    for (e = 0; e <= D->budget; e++)
        D->row[0][0][e] = e == 0 ? 0 : NONE;
    plan_children(D, 0);
    if ((st = first_child(db, root->lo, root->hi, 0, &root->next)) != KG_OK)
        return st;
    for (;;) {
        node *P = &D->path[d], *C = &D->path[d + 1];
        uint32_t i = 0, end = 0, cp = 0; /* set when found (compilers cannot tell) */
        size_t n;
        int found;
        st = P->all ? next_child(D, P, &found, &i, &end, &cp, &n)
                    : next_candidate_child(D, P, &found, &i, &end, &cp, &n);
        if (st != KG_OK)
            return st;
        if (!found) {
            if (d == 0)
                return KG_OK;
            d--;
            continue;
        }
        C->cp = cp;
        C->key = key_of(D->layout, cp);
        if (P->all && !may_live(D, P, cp, C->key))
            continue; /* no cell, and no transposition skips it */
        C->lo = i;
        C->hi = end;
        C->len = P->len + n;
        if (!compute_row(D, d + 1)) {
            /* No cell within the budget: nothing below has one, but for a transposition
             * that skips this node (``cost`` for ``ocst``: ``c`` has none, ``co`` has). */
            if (P->jlo > P->jhi || (C->exact = swaps_below(D, d, cp)) == 0)
                continue;
            C->all = C->any = 0;
            memset(C->keys, 0, sizeof C->keys);
            C->joiners = 0;
            C->after = 1;
            C->tpos = 0;
            if ((st = first_child(db, i, end, C->len, &C->next)) != KG_OK)
                return st;
            d++;
            continue;
        }
        plan_children(D, d + 1);
        if ((st = first_child(db, i, end, C->len, &C->next)) != KG_OK)
            return st;
        if (C->jhi == D->m) {
            cell best = NONE;
            const unsigned char *p;
            size_t len;
            for (e = 0; e <= D->budget; e++)
                if (D->row[d + 1][D->m][e] < best)
                    best = D->row[d + 1][D->m][e];
            if ((st = kg_word_bytes(db, i, &p, &len)) != KG_OK)
                return st;
            if ((st = offer_node(D, i, end, best, len == C->len)) != KG_OK)
                return st;
        }
        d++;
    }
}

/* A word longer than KG_MAX_DECODE keystrokes: the words that start with it, at no
 * penalty. */
static kg_status exact(decoder *D, const kg_token *typed)
{
    const unsigned char *p;
    size_t len;
    uint32_t lo, hi;
    kg_status st = kg_prefix_range(D->db, typed->bytes, typed->len, &lo, &hi);
    if (st != KG_OK || lo >= hi)
        return st;
    if ((st = kg_word_bytes(D->db, lo, &p, &len)) != KG_OK)
        return st;
    return offer_node(D, lo, hi, 0, len == typed->len && memcmp(p, typed->bytes, len) == 0);
}

/* decoder.Decoder.exact_penalty: what the keystrokes cost as typed, each touch on its own
 * key (0 off the layout, and for a word matched exactly beyond KG_MAX_DECODE). */
static int64_t exact_penalty(decoder *D)
{
    int64_t sum = 0;
    int j;
    for (j = 0; j < D->m; j++)
        sum += touch(D, j, D->t[j].key);
    return sum;
}

/* The keystrokes of the typed word (m <= KG_MAX_DECODE code points). */
static void strokes(decoder *D, const kg_token *typed, const kg_touch *touches)
{
    const unsigned char *p = typed->bytes, *end = p + typed->len;
    const kg_layout *L = D->layout;
    int j;
    for (j = 0; j < D->m && p < end; j++) {
        stroke *s = &D->t[j];
        p += kg_utf8_decode(p, end, &s->cp); /* the kernel's own fold: valid UTF-8 */
        s->key = key_of(L, s->cp);
        s->has_point = 1;
        if (touches && touches[j].present) {
            s->x = quantize(touches[j].x);
            s->y = quantize(touches[j].y);
        } else if (s->key != NO_KEY) {
            s->x = L->private_grid[4 * s->key];
            s->y = L->private_grid[4 * s->key + 1];
        } else {
            s->has_point = 0;
            s->x = s->y = 0;
        }
    }
    memset(D->spatial, 0xFF, (size_t)D->m * L->private_keys * sizeof D->spatial[0]);
}

kg_status kg_suggest(const kg_db *db, const char *text, size_t text_len,
                     const kg_touch *touches, size_t n_touches, const kg_layout *layout,
                     int64_t threshold, size_t k, kg_suggestion *out, size_t *n_out,
                     kg_correction *correction)
{
    decoder D;
    kg_token typed;
    int has_prefix, has_kept = 0;
    uint32_t ctx[KG_FMT_MAX_ORDER], kept_id = 0;
    int64_t lm_typed, kept_score = 0;
    unsigned m;
    size_t i, n;
    kg_correction result;
    kg_status st;

    if (!db || (!text && text_len) || (!touches && n_touches) || !layout || (!out && k) ||
        !n_out || !correction || k > KG_MAX_K || !layout_usable(layout))
        return KG_E_INVALID_ARGUMENT;
    st = kg_read_cursor(db, (const unsigned char *)(text ? text : ""), text_len, ctx, &m,
                        &typed, &has_prefix);
    if (st != KG_OK)
        return st;
    memset(&result, 0, sizeof result);
    if (!has_prefix) { /* the next word */
        if ((st = kg_predict_cursor(db, ctx, m, NULL, k, out, n_out)) == KG_OK)
            *correction = result;
        return st;
    }
    /* keyboard.check_touches: one point (or none) a character, each within the bounds. */
    if (touches && n_touches != typed.cps)
        return KG_E_INVALID_ARGUMENT;
    for (i = 0; touches && i < n_touches; i++)
        if (touches[i].present &&
            (!in_range(touches[i].x, -KG_TYPING_MAX_COORDINATE, KG_TYPING_MAX_COORDINATE) ||
             !in_range(touches[i].y, -KG_TYPING_MAX_COORDINATE, KG_TYPING_MAX_COORDINATE)))
            return KG_E_INVALID_ARGUMENT;
    result.typing = 1;
    result.typed_length = typed.cps;
    if (typed.too_long) { /* longer than any word: nothing to suggest or correct */
        *n_out = 0;
        *correction = result;
        return KG_OK;
    }

    D.db = db;
    D.layout = layout;
    D.has_correction = 0;
    D.correction_id = 0;
    D.correction_score = 0;
    st = kg_find_word(db, typed.bytes, typed.len, &D.typed_id);
    if (st == KG_E_NOT_FOUND)
        D.typed_id = KG_ID_UNK;
    else if (st != KG_OK)
        return st;
    if ((st = kg_search_init(&D.S, db, ctx, m, k, 1)) != KG_OK)
        return st;
    if (typed.cps > KG_TYPING_MAX_DECODE) {
        D.m = 0; /* no keystroke is aligned */
        st = exact(&D, &typed);
    } else {
        D.m = (int)typed.cps;
        D.budget = max_edits[D.m];
        strokes(&D, &typed, touches);
        st = walk(&D);
    }
    if (st != KG_OK || (st = kg_search_score(&D.S, D.typed_id, &lm_typed)) != KG_OK)
        return st;

    /* decoder.decode: the correction, its confidence against the typed word (what its
     * touches cost on the keys typed included), and the word a space would leave. */
    if (D.has_correction) {
        int64_t own = lm_typed - (D.typed_id == KG_ID_UNK ? KG_TYPING_UNKNOWN : 0);
        result.has_correction = 1;
        result.word_id = D.correction_id;
        result.score = D.correction_score;
        result.confidence = D.correction_score - (own - exact_penalty(&D));
        result.autocorrect = result.confidence >= threshold;
    }
    if (result.autocorrect) {
        has_kept = 1;
        kept_id = D.correction_id;
        kept_score = D.correction_score;
    }
    n = D.S.n;
    for (i = 0; i < n; i++) {
        out[i].word_id = D.S.word[i];
        out[i].score = kg_saturate32(D.S.score[i]);
        if (D.S.word[i] == kept_id)
            has_kept = 0; /* shown already */
    }
    if (has_kept && k > 0) { /* it takes the last place, or the next free one */
        i = n < k ? n++ : k - 1;
        out[i].word_id = kept_id;
        out[i].score = kg_saturate32(kept_score);
    }
    *n_out = n;
    *correction = result;
    return KG_OK;
}
