/* Scoring and top-k search (FORMAT.md section 5), in integers, without allocation.
 *
 * score(w | h) is the probability of the longest n-gram (suffix of h, w) in the trie plus
 * the backoffs of the longer suffixes of h that are in the trie. So for a context h of m
 * ids, the candidates form "levels" j = m .. 0: level j holds the children of the node of
 * the last j ids (j = 0: every unigram), scored as (backoffs of the nodes longer than j) +
 * their probability, minus the words already present at a longer level, which take their
 * score there.
 *
 * Every index, offset and id read from the file is checked before it is used to read
 * further: a damaged file gives KG_E_CORRUPT, never a read outside the file. */
#include <string.h>

#include "internal.h"

/* ---- trie access ---- */

KG_INLINE int32_t prob_at(const kg_db *db, unsigned n, uint64_t i)
{
    return kg_codebook_get(&db->prob_cb[n], kg_col_get(&db->prob[n], i));
}

KG_INLINE int32_t backoff_at(const kg_db *db, unsigned n, uint64_t i)
{
    return kg_codebook_get(&db->backoff_cb[n], kg_col_get(&db->backoff[n], i));
}

/* Last word of entry i at order n (order 1 is the vocabulary: entry i is word i). */
KG_INLINE uint32_t word_at(const kg_db *db, unsigned n, uint64_t i)
{
    return n == 1 ? (uint32_t)i : kg_col_get(&db->words[n], i);
}

/* The children [*a, *b) at order n + 1 of entry i (< count_n) at order n (< N). */
KG_INLINE kg_status children_of(const kg_db *db, unsigned n, uint64_t i, uint64_t *a,
                                uint64_t *b)
{
    *a = kg_col_get(&db->children[n], i);
    *b = kg_col_get(&db->children[n], i + 1);
    return *a <= *b && *b <= db->count[n + 1] ? KG_OK : KG_E_CORRUPT;
}

/* The first index in [a, b) at order n (>= 2) whose word is >= w. */
static uint64_t lower_bound(const kg_db *db, unsigned n, uint64_t a, uint64_t b, uint32_t w)
{
    return kg_col_lower_bound(&db->words[n], a, b, w);
}

/* lower_bound, galloping from a: the cost grows with the distance to the answer, not with
 * b - a. */
static uint64_t gallop_lower_bound(const kg_db *db, unsigned n, uint64_t a, uint64_t b,
                                   uint32_t w)
{
    uint64_t step = 1;
    while (step <= b - a && kg_col_get(&db->words[n], a + step - 1) < w) {
        a += step;
        step *= 2;
    }
    return lower_bound(db, n, a, step <= b - a ? a + step - 1 : b, w);
}

/* Whether word w is among the entries [a, b) at order n (>= 2); *at receives its index. */
KG_INLINE int find_child(const kg_db *db, unsigned n, uint64_t a, uint64_t b, uint32_t w,
                         uint64_t *at)
{
    uint64_t i = lower_bound(db, n, a, b, w);
    *at = i;
    return i < b && kg_col_get(&db->words[n], i) == w;
}

/* The n-gram ids[0..len) (1 <= len < N, ids < V): *found and its index at order len. */
static kg_status find_ngram(const kg_db *db, const uint32_t *ids, unsigned len, int *found,
                            uint64_t *node)
{
    uint64_t i = ids[0], a, b;
    unsigned t;
    kg_status st;
    for (t = 1; t < len; t++) {
        if ((st = children_of(db, t, i, &a, &b)) != KG_OK)
            return st;
        if (!find_child(db, t + 1, a, b, ids[t], &i)) {
            *found = 0;
            return KG_OK;
        }
    }
    *found = 1;
    *node = i;
    return KG_OK;
}

/* score(w | h), h = h[0..m) oldest first, m < N, all ids < V. */
static kg_status score_ids(const kg_db *db, const uint32_t *h, unsigned m, uint32_t w,
                           int64_t *out)
{
    int64_t total = 0;
    unsigned j;
    for (j = m; j >= 1; j--) {
        uint64_t node, a, b, at;
        int found;
        kg_status st = find_ngram(db, h + m - j, j, &found, &node);
        if (st != KG_OK)
            return st;
        if (!found)
            continue; /* (h, w) is absent too, and backoff(h) is 0 */
        if ((st = children_of(db, j, node, &a, &b)) != KG_OK)
            return st;
        if (find_child(db, j + 1, a, b, w, &at)) {
            *out = total + prob_at(db, j + 1, at);
            return KG_OK;
        }
        total += backoff_at(db, j, node);
    }
    *out = total + prob_at(db, 1, w);
    return KG_OK;
}

kg_status kg_score_word(const kg_db *db, const uint32_t *context, size_t n, uint32_t word,
                        int64_t *score)
{
    size_t i;
    unsigned m;
    if (!db || !score || (!context && n) || word >= db->vocab)
        return KG_E_INVALID_ARGUMENT;
    for (i = 0; i < n; i++)
        if (context[i] >= db->vocab)
            return KG_E_INVALID_ARGUMENT;
    m = n < db->order - 1 ? (unsigned)n : db->order - 1;
    return score_ids(db, m ? context + (n - m) : NULL, m, word, score);
}

/* ---- top-k ---- */

/* Whether (s, w) would enter the current top k. */
KG_INLINE int enters(const kg_search *S, int64_t s, uint32_t w)
{
    if (S->n < S->k)
        return 1;
    return s > S->score[S->k - 1] || (s == S->score[S->k - 1] && w < S->word[S->k - 1]);
}

static void insert(kg_search *S, int64_t s, uint32_t w)
{
    size_t i;
    if (S->distinct) { /* a word offered again keeps its best score */
        for (i = 0; i < S->n && S->word[i] != w; i++)
            ;
        if (i < S->n) {
            if (S->score[i] >= s)
                return;
            for (; i + 1 < S->n; i++) { /* take it out: it goes back in higher up */
                S->score[i] = S->score[i + 1];
                S->word[i] = S->word[i + 1];
            }
            S->n--;
        }
    }
    i = S->n < S->k ? S->n++ : S->k - 1;
    while (i > 0 && (s > S->score[i - 1] || (s == S->score[i - 1] && w < S->word[i - 1]))) {
        S->score[i] = S->score[i - 1];
        S->word[i] = S->word[i - 1];
        i--;
    }
    S->score[i] = s;
    S->word[i] = w;
}

/* Whether w has its score at a level longer than j (it is a child of that level's node). */
static int at_longer_level(const kg_search *S, unsigned j, uint32_t w)
{
    unsigned t;
    uint64_t at;
    for (t = j + 1; t <= S->m; t++)
        if (S->lv[t].present && find_child(S->db, t + 1, S->lv[t].a, S->lv[t].b, w, &at))
            return 1;
    return 0;
}

int kg_blocked(const kg_db *db, uint32_t w)
{
    const kg_col *list = &db->blocklist;
    uint64_t n = list->present ? list->n : 0, i = kg_col_lower_bound(list, 0, n, w);
    return i < n && kg_col_get(list, i) == w;
}

/* Offers word w with score s found at level j. A blocked word is never inserted, so it
 * never counts toward the k found; the callers' early stops only compare ranks, which
 * stay valid whether or not the word was inserted. */
KG_INLINE kg_status offer(kg_search *S, unsigned j, uint32_t w, int64_t s)
{
    if (w >= S->db->vocab)
        return KG_E_CORRUPT;
    if (w >= KG_FIRST_WORD_ID && enters(S, s, w) && !kg_blocked(S->db, w) &&
        !at_longer_level(S, j, w))
        insert(S, s, w);
    return KG_OK;
}

/* Whether child (p, w) ranks at or before (lp, lw) in a top list. */
KG_INLINE int ranks_at_or_before(int32_t p, uint32_t w, int32_t lp, uint32_t lw)
{
    return p > lp || (p == lp && w <= lw);
}

/* The top list of node i at order n (1 <= n < N): entries [*s, *e) of TOP_ENTRIES_n, or an
 * empty range when it has none. */
static kg_status top_list(const kg_db *db, unsigned n, uint64_t i, uint64_t *s, uint64_t *e)
{
    const kg_col *nodes = &db->top_nodes[n];
    uint64_t lo = kg_col_lower_bound(nodes, 0, nodes->n, i);
    *s = *e = 0;
    if (lo == nodes->n || kg_col_get(nodes, lo) != i)
        return KG_OK;
    *s = kg_col_get(&db->top_starts[n], lo);
    *e = kg_col_get(&db->top_starts[n], lo + 1);
    return *s <= *e && *e <= db->top_entries[n].n ? KG_OK : KG_E_CORRUPT;
}

/* Next-word candidates of level j, best first through its top list while the list lasts,
 * stopping as soon as one cannot enter the top k: the list is ordered as the level's
 * scores (B + probability), so nothing after it can enter either. When the list runs out
 * first, the remaining children are scanned; those ranked at or before the list's last
 * entry were in the list. */
static kg_status rank_level(kg_search *S, unsigned j, int64_t B)
{
    const kg_db *db = S->db;
    const kg_col *list = &db->top_entries[j];
    unsigned n = j + 1;
    uint64_t a = S->lv[j].a, b = S->lv[j].b, s = 0, e = 0, t, c;
    int have_last = 0;
    int32_t lp = 0;
    uint32_t lw = 0;
    kg_status st;

    if (j == 0) {
        e = list->n; /* TOP_ENTRIES_0 ranks every unigram */
    } else if (b - a > KG_TOP_LIST_LENGTH) {
        if ((st = top_list(db, j, S->lv[j].node, &s, &e)) != KG_OK)
            return st;
    }
    for (t = s; t < e; t++) {
        int32_t p;
        uint32_t w;
        c = kg_col_get(list, t);
        if (c < a || c >= b)
            return KG_E_CORRUPT;
        p = prob_at(db, n, c);
        w = word_at(db, n, c);
        if (!enters(S, B + p, w))
            return KG_OK; /* the level is decided */
        if ((st = offer(S, j, w, B + p)) != KG_OK)
            return st;
        have_last = 1;
        lp = p;
        lw = w;
    }
    if (have_last && e - s >= b - a)
        return KG_OK;
    for (c = a; c < b; c++) {
        int32_t p = prob_at(db, n, c);
        uint32_t w = word_at(db, n, c);
        if (have_last && ranks_at_or_before(p, w, lp, lw))
            continue;
        if ((st = offer(S, j, w, B + p)) != KG_OK)
            return st;
    }
    return KG_OK;
}

/* Completion candidates of level j: the node's children with ids in [lo, hi). */
static kg_status rank_level_prefix(kg_search *S, unsigned j, int64_t B, uint32_t lo,
                                   uint32_t hi)
{
    const kg_db *db = S->db;
    uint64_t c, a, b;
    kg_status st;
    if (j == 0) {
        /* A wide range (a short prefix) holds some of the best unigrams: walk the global
         * ranking for at most as many steps as the range is wide, then scan the range. */
        const kg_col *list = &db->top_entries[0];
        int have_last = 0;
        int32_t lp = 0;
        uint32_t lw = 0;
        if (hi - lo > 32) {
            uint64_t t, steps = list->n < hi - lo ? list->n : hi - lo;
            for (t = 0; t < steps; t++) {
                int32_t p;
                c = kg_col_get(list, t);
                if (c >= db->vocab)
                    return KG_E_CORRUPT;
                p = prob_at(db, 1, c);
                if (!enters(S, B + p, (uint32_t)c))
                    return KG_OK;
                if (c >= lo && c < hi && (st = offer(S, 0, (uint32_t)c, B + p)) != KG_OK)
                    return st;
                have_last = 1;
                lp = p;
                lw = (uint32_t)c;
            }
            if (t == list->n && list->n >= db->vocab)
                return KG_OK; /* the whole ranking was walked */
        }
        for (c = lo; c < hi; c++) {
            int32_t p = prob_at(db, 1, c);
            if (have_last && ranks_at_or_before(p, (uint32_t)c, lp, lw))
                continue;
            if ((st = offer(S, 0, (uint32_t)c, B + p)) != KG_OK)
                return st;
        }
        return KG_OK;
    }
    if (S->distinct) { /* ranges come in increasing order: from where the last one began */
        if (lo < S->last_lo || S->from[j] < S->lv[j].a || S->from[j] > S->lv[j].b)
            S->from[j] = S->lv[j].a;
        a = gallop_lower_bound(db, j + 1, S->from[j], S->lv[j].b, lo);
        S->from[j] = a;
        b = gallop_lower_bound(db, j + 1, a, S->lv[j].b, hi);
    } else {
        a = lower_bound(db, j + 1, S->lv[j].a, S->lv[j].b, lo);
        b = lower_bound(db, j + 1, a, S->lv[j].b, hi);
    }
    {
        /* A wide sub-range of a big node (a short prefix after a common word): its top
         * list, which ranks all the node's children, may decide the level at once. */
        uint64_t s = 0, e = 0, t;
        int have_last = 0;
        int32_t lp = 0;
        uint32_t lw = 0;
        if (b - a > KG_TOP_LIST_LENGTH &&
            (st = top_list(db, j, S->lv[j].node, &s, &e)) != KG_OK)
            return st;
        for (t = s; t < e; t++) {
            int32_t p;
            uint32_t w;
            c = kg_col_get(&db->top_entries[j], t);
            if (c < S->lv[j].a || c >= S->lv[j].b)
                return KG_E_CORRUPT;
            p = prob_at(db, j + 1, c);
            w = word_at(db, j + 1, c);
            if (!enters(S, B + p, w))
                return KG_OK; /* no child of the node, in the range or not, can enter */
            if (w >= lo && w < hi && (st = offer(S, j, w, B + p)) != KG_OK)
                return st;
            have_last = 1;
            lp = p;
            lw = w;
        }
        for (c = a; c < b; c++) {
            int32_t p = prob_at(db, j + 1, c);
            uint32_t w = word_at(db, j + 1, c);
            if (w < lo || w >= hi) /* only if the children are not sorted: a damaged file */
                continue;
            if (have_last && ranks_at_or_before(p, w, lp, lw))
                continue; /* seen in the top list */
            if ((st = offer(S, j, w, B + p)) != KG_OK)
                return st;
        }
    }
    return KG_OK;
}

kg_status kg_search_init(kg_search *S, const kg_db *db, const uint32_t *ctx, unsigned m,
                         size_t k, int distinct)
{
    unsigned j;
    kg_status st;

    S->db = db;
    S->m = m;
    S->k = k;
    S->n = 0;
    S->distinct = distinct;
    S->last_lo = 0;
    memset(S->from, 0, sizeof S->from);
    S->lv[0].present = 1;
    S->lv[0].a = 0;
    S->lv[0].b = db->vocab;
    S->lv[0].backoff = 0;
    for (j = 1; j <= m; j++) {
        kg_level *L = &S->lv[j];
        L->backoff = 0;
        if ((st = find_ngram(db, ctx + m - j, j, &L->present, &L->node)) != KG_OK)
            return st;
        if (!L->present)
            continue;
        if ((st = children_of(db, j, L->node, &L->a, &L->b)) != KG_OK)
            return st;
        L->backoff = backoff_at(db, j, L->node);
    }
    return KG_OK;
}

/* The top k of the levels (kg_search_init); completion when `prefix`, over ids [lo, hi).
 * Every score is shifted by `shift`. */
static kg_status top_k(kg_search *S, int prefix, int64_t shift, uint32_t lo, uint32_t hi)
{
    int64_t B = shift;
    unsigned j;
    kg_status st;
    for (j = S->m + 1; j-- > 0;) {
        if (!S->lv[j].present)
            continue;
        st = prefix ? rank_level_prefix(S, j, B, lo, hi) : rank_level(S, j, B);
        if (st != KG_OK)
            return st;
        B += S->lv[j].backoff;
    }
    return KG_OK;
}

kg_status kg_search_range(kg_search *S, int64_t shift, uint32_t lo, uint32_t hi)
{
    kg_status st = S->k > 0 && lo < hi ? top_k(S, 1, shift, lo, hi) : KG_OK;
    S->last_lo = lo;
    return st;
}

kg_status kg_search_score(const kg_search *S, uint32_t w, int64_t *score)
{
    const kg_db *db = S->db;
    int64_t B = 0;
    uint64_t at;
    unsigned j;
    if (w >= db->vocab)
        return KG_E_CORRUPT;
    for (j = S->m; j >= 1; j--) {
        const kg_level *L = &S->lv[j];
        if (!L->present)
            continue; /* (h, w) is absent too, and backoff(h) is 0 */
        if (find_child(db, j + 1, L->a, L->b, w, &at)) {
            *score = B + prob_at(db, j + 1, at);
            return KG_OK;
        }
        B += L->backoff;
    }
    *score = B + prob_at(db, 1, w);
    return KG_OK;
}

/* ---- the context before the cursor ---- */

/* The last tokens of the current sentence, up to N - 1 of them. */
typedef struct ring {
    kg_token tok[KG_FMT_MAX_ORDER - 1];
    unsigned count; /* tokens in the sentence so far, up to KG_FMT_MAX_ORDER - 1 */
    unsigned next;  /* the slot the next token goes to */
} ring;

static kg_status ring_event(void *user, const kg_token *t)
{
    ring *r = (ring *)user;
    if (!t) {
        r->count = 0;
        return KG_OK;
    }
    kg_token *slot = &r->tok[r->next];
    slot->too_long = t->too_long;
    slot->len = t->len;
    if (!t->too_long)
        memcpy(slot->bytes, t->bytes, t->len);
    r->next = (r->next + 1) % (KG_FMT_MAX_ORDER - 1);
    if (r->count < KG_FMT_MAX_ORDER - 1)
        r->count++;
    return KG_OK;
}

static kg_status token_id(const kg_db *db, const kg_token *t, uint32_t *id)
{
    kg_status st;
    if (t->too_long) {
        *id = KG_ID_UNK;
        return KG_OK;
    }
    st = kg_find_word(db, t->bytes, t->len, id);
    if (st == KG_E_NOT_FOUND) {
        *id = KG_ID_UNK;
        return KG_OK;
    }
    return st;
}

kg_status kg_read_cursor(const kg_db *db, const unsigned char *text, size_t len, uint32_t *ctx,
                         unsigned *m, kg_token *prefix, int *has_prefix)
{
    ring r;
    unsigned i, n;
    size_t t, from;
    kg_status st;

    r.count = 0;
    r.next = 0;
    /* The last N - 1 words of the sentence and the word being typed are all that is read:
     * a tail with N + 1 tokens holds them, so a long text costs no more than a short one. */
    from = kg_text_tail(text, len, db->order, &t);
    st = kg_text_cursor(text + from, len - from, ring_event, &r, prefix, has_prefix);
    if (st != KG_OK)
        return st;
    /* Context: <s> and the sentence's tokens, the last N - 1 of them. */
    n = r.count + 1 < db->order - 1 ? r.count + 1 : db->order - 1;
    for (i = 0; i < n; i++) {
        unsigned back = n - i; /* 1 = the newest token */
        if (back > r.count) {
            ctx[i] = KG_ID_BOS;
        } else {
            const kg_token *tok = &r.tok[(r.next + KG_FMT_MAX_ORDER - 1 - back) %
                                         (KG_FMT_MAX_ORDER - 1)];
            if ((st = token_id(db, tok, &ctx[i])) != KG_OK)
                return st;
        }
    }
    *m = n;
    return KG_OK;
}

kg_status kg_predict_cursor(const kg_db *db, const uint32_t *ctx, unsigned m,
                            const kg_token *prefix, size_t k, kg_suggestion *out,
                            size_t *n_out)
{
    kg_search S;
    uint32_t lo = 0, hi = 0;
    size_t t;
    kg_status st;

    if (prefix) {
        if (prefix->too_long) { /* longer than any word: matches nothing */
            *n_out = 0;
            return KG_OK;
        }
        if ((st = kg_prefix_range(db, prefix->bytes, prefix->len, &lo, &hi)) != KG_OK)
            return st;
        if (lo >= hi) {
            *n_out = 0;
            return KG_OK;
        }
    }
    if (k > 0) {
        if ((st = kg_search_init(&S, db, ctx, m, k, 0)) != KG_OK)
            return st;
        if ((st = top_k(&S, prefix != NULL, 0, lo, hi)) != KG_OK)
            return st;
    } else {
        S.n = 0;
    }
    for (t = 0; t < S.n; t++) {
        out[t].word_id = S.word[t];
        out[t].score = kg_saturate32(S.score[t]);
    }
    *n_out = S.n;
    return KG_OK;
}

kg_status kg_predict(const kg_db *db, const char *text, size_t text_len, size_t k,
                     kg_suggestion *out, size_t *n_out)
{
    kg_token prefix;
    int has_prefix;
    uint32_t ctx[KG_FMT_MAX_ORDER];
    unsigned m;
    kg_status st;

    if (!db || (!text && text_len) || (!out && k) || !n_out || k > KG_MAX_K)
        return KG_E_INVALID_ARGUMENT;
    st = kg_read_cursor(db, (const unsigned char *)(text ? text : ""), text_len, ctx, &m,
                        &prefix, &has_prefix);
    if (st != KG_OK)
        return st;
    return kg_predict_cursor(db, ctx, m, has_prefix ? &prefix : NULL, k, out, n_out);
}

/* ---- the words before the cursor, for a reranker ---- */

/* The last `cap` ids of a stream, kept in the caller's array as a ring. */
typedef struct id_ring {
    uint32_t *ids;
    size_t cap, count; /* count: ids pushed since the last reset */
} id_ring;

static void id_ring_push(id_ring *r, uint32_t id)
{
    if (r->cap)
        r->ids[r->count % r->cap] = id;
    r->count++;
}

static void reverse_ids(uint32_t *a, size_t n)
{
    size_t i;
    for (i = 0; i < n / 2; i++) {
        uint32_t t = a[i];
        a[i] = a[n - 1 - i];
        a[n - 1 - i] = t;
    }
}

/* Puts the ring in order, oldest first, and returns how many ids it holds. */
static size_t id_ring_settle(id_ring *r)
{
    size_t n = r->count < r->cap ? r->count : r->cap, oldest;
    if (r->count > r->cap && r->cap) { /* rotate left by the oldest's slot */
        oldest = r->count % r->cap;
        reverse_ids(r->ids, oldest);
        reverse_ids(r->ids + oldest, r->cap - oldest);
        reverse_ids(r->ids, r->cap);
    }
    return n;
}

#define MEMO_SLOTS 1024 /* a power of two */

typedef struct around {
    const kg_db *db;
    id_ring history, sentence;
    size_t index, skip; /* tokens seen; the first `skip` are in neither list at the end */
    /* Words looked up in this call, by a hash of their bytes (0: empty; a word's id is never
     * 0): a text repeats its common words, and a slot costs one comparison where the
     * vocabulary's binary search costs ~17. */
    uint32_t memo[MEMO_SLOTS];
} around;

static kg_status memo_token_id(around *a, const kg_token *t, uint32_t *id)
{
    uint32_t h = 2166136261u, *slot;
    const char *word;
    size_t i, len;
    kg_status st;
    if (t->too_long)
        return token_id(a->db, t, id);
    for (i = 0; i < t->len; i++) /* FNV-1a */
        h = (h ^ t->bytes[i]) * 16777619u;
    slot = &a->memo[h & (MEMO_SLOTS - 1)];
    if (*slot && kg_word(a->db, *slot, &word, &len) == KG_OK && len == t->len &&
        memcmp(word, t->bytes, len) == 0) {
        *id = *slot;
        return KG_OK;
    }
    if ((st = token_id(a->db, t, id)) != KG_OK)
        return st;
    if (*id != KG_ID_UNK)
        *slot = *id;
    return KG_OK;
}

static kg_status around_event(void *user, const kg_token *t)
{
    around *a = (around *)user;
    uint32_t id = KG_ID_UNK;
    kg_status st;
    if (!t) {
        a->sentence.count = 0;
        return KG_OK;
    }
    /* A vocabulary lookup is a binary search: only tokens that can end in a list pay it.
     * The others take slots that later tokens overwrite. */
    if (a->index++ >= a->skip && (st = memo_token_id(a, t, &id)) != KG_OK)
        return st;
    id_ring_push(&a->history, id);
    id_ring_push(&a->sentence, id);
    return KG_OK;
}

kg_status kg_context_ids(const kg_db *db, const char *text, size_t text_len, uint32_t *history,
                         size_t history_cap, size_t *history_n, uint32_t *sentence,
                         size_t sentence_cap, size_t *sentence_n, size_t *typed)
{
    around a;
    kg_token prefix;
    int has_prefix;
    const unsigned char *bytes;
    size_t from, longest, tokens, i;
    kg_status st;

    if (!db || (!text && text_len) || (!history && history_cap) || !history_n ||
        (!sentence && sentence_cap) || !sentence_n || !typed || history_cap > KG_MAX_CONTEXT ||
        sentence_cap > KG_MAX_CONTEXT)
        return KG_E_INVALID_ARGUMENT;
    *history_n = *sentence_n = *typed = 0;
    memset(&a, 0, sizeof a);
    a.db = db;
    a.history.ids = history;
    a.history.cap = history_cap;
    a.sentence.ids = sentence;
    a.sentence.cap = sentence_cap;
    /* Each list, the word being typed and one token whose sentence start may be misread. */
    longest = history_cap > sentence_cap ? history_cap : sentence_cap;
    bytes = (const unsigned char *)(text ? text : "");
    from = kg_text_tail(bytes, text_len, longest + 1, &tokens);
    /* Of the tokens, one may be the word being typed, and the last `longest` before it are
     * all that the lists can hold. */
    a.skip = tokens > longest + 1 ? tokens - longest - 1 : 0;
    st = kg_text_cursor(bytes + from, text_len - from, around_event, &a, &prefix, &has_prefix);
    if (st != KG_OK)
        return st;
    *history_n = id_ring_settle(&a.history);
    *sentence_n = id_ring_settle(&a.sentence);
    if (has_prefix) {
        if (prefix.too_long) {
            *typed = KG_MAX_WORD_BYTES + 1;
        } else {
            for (i = 0; i < prefix.len; i++) /* code points: bytes that start one */
                *typed += (prefix.bytes[i] & 0xC0) != 0x80;
        }
    }
    return KG_OK;
}

/* ---- scoring a text ---- */

typedef struct scorer {
    const kg_db *db;
    uint32_t h[KG_FMT_MAX_ORDER]; /* <s> and the sentence so far, the last N - 1 */
    unsigned m;
    int64_t sum;
    uint64_t count;
} scorer;

KG_INLINE int64_t add_saturating(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static kg_status score_event(void *user, const kg_token *t)
{
    scorer *sc = (scorer *)user;
    const kg_db *db = sc->db;
    uint32_t id = KG_ID_EOS;
    int64_t s;
    kg_status st;
    if (t && (st = token_id(db, t, &id)) != KG_OK)
        return st;
    if ((st = score_ids(db, sc->h, sc->m, id, &s)) != KG_OK)
        return st;
    sc->sum = add_saturating(sc->sum, s);
    sc->count++;
    if (!t) { /* the sentence ended: the next starts with <s> */
        sc->h[0] = KG_ID_BOS;
        sc->m = 1;
    } else if (sc->m < db->order - 1) {
        sc->h[sc->m++] = id;
    } else {
        memmove(sc->h, sc->h + 1, (sc->m - 1) * sizeof sc->h[0]);
        sc->h[sc->m - 1] = id;
    }
    return KG_OK;
}

kg_status kg_score_text(const kg_db *db, const char *text, size_t len, int64_t *score_sum,
                        uint64_t *token_count)
{
    scorer sc;
    kg_status st;
    if (!db || (!text && len) || !score_sum || !token_count)
        return KG_E_INVALID_ARGUMENT;
    sc.db = db;
    sc.h[0] = KG_ID_BOS;
    sc.m = 1;
    sc.sum = 0;
    sc.count = 0;
    st = kg_text_sentences((const unsigned char *)(text ? text : ""), len, score_event, &sc);
    if (st != KG_OK)
        return st;
    *score_sum = sc.sum;
    *token_count = sc.count;
    return KG_OK;
}
