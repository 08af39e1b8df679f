/* The tokenization contract keyglide-text-1, byte for byte as sdk/keyglide/text.py defines
 * it (its docstring is the specification; FORMAT.md section 6 summarises it). Its character
 * lists (spaces, line breaks, terminators, joiners, abbreviations) are text.py's, generated
 * into text_tables.h; its Unicode tables are in unicode_tables.h, generated too.
 *
 * The text is read once, left to right, without allocation. Where text.py looks at a
 * whole gap between two tokens, the scanner keeps the few facts about the gap that the
 * sentence rules need (line breaks, terminators, a space after a terminator), so a gap of
 * any length costs O(length) and no memory. */
#include <string.h>

#include "internal.h"
#include "text_tables.h"
#include "unicode_tables.h"

size_t kg_utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
    /* Strict UTF-8 (as Python's decoder): no overlong forms, no surrogates, nothing above
     * U+10FFFF, no truncated sequence. An invalid sequence is reported one byte at a time:
     * Python turns a maximal invalid subpart into one U+FFFD instead, but a run of
     * separators means the same as one separator, and a byte that could start a valid
     * sequence is never swallowed, so both read the same words. */
    size_t avail = (size_t)(end - p);
    uint32_t b0 = p[0], b1, b2, b3, lo = 0x80, hi = 0xBF;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if (b0 < 0xC2 || b0 > 0xF4)
        goto invalid;
    if (b0 < 0xE0) {
        if (avail < 2 || (p[1] & 0xC0) != 0x80)
            goto invalid;
        *cp = (b0 & 0x1F) << 6 | (p[1] & 0x3Fu);
        return 2;
    }
    if (b0 < 0xF0) {
        if (avail < 3)
            goto invalid;
        if (b0 == 0xE0)
            lo = 0xA0; /* overlong */
        else if (b0 == 0xED)
            hi = 0x9F; /* surrogates */
        b1 = p[1];
        b2 = p[2];
        if (b1 < lo || b1 > hi || (b2 & 0xC0) != 0x80)
            goto invalid;
        *cp = (b0 & 0x0F) << 12 | (b1 & 0x3F) << 6 | (b2 & 0x3F);
        return 3;
    }
    if (avail < 4)
        goto invalid;
    if (b0 == 0xF0)
        lo = 0x90; /* overlong */
    else if (b0 == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    b1 = p[1];
    b2 = p[2];
    b3 = p[3];
    if (b1 < lo || b1 > hi || (b2 & 0xC0) != 0x80 || (b3 & 0xC0) != 0x80)
        goto invalid;
    *cp = (b0 & 0x07) << 18 | (b1 & 0x3F) << 12 | (b2 & 0x3F) << 6 | (b3 & 0x3F);
    return 4;
invalid:
    *cp = KG_CP_INVALID;
    return 1;
}

static int in_ranges(const uint32_t (*ranges)[2], size_t count, uint32_t cp)
{
    size_t lo = 0, hi = count;
    while (lo < hi) { /* the first range whose end is >= cp */
        size_t mid = lo + (hi - lo) / 2;
        if (ranges[mid][1] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < count && ranges[lo][0] <= cp;
}

int kg_is_word_char(uint32_t cp)
{
    if (cp < 128)
        return ascii_class[cp] & C_WORD;
    return in_ranges(kg_word_ranges, KG_WORD_RANGE_COUNT, cp);
}

/* The class of a code point that is not ASCII. */
static unsigned class_of(uint32_t cp)
{
    unsigned listed = listed_class(cp);
    if (listed || !kg_is_word_char(cp))
        return listed;
    return in_ranges(kg_mark_ranges, KG_MARK_RANGE_COUNT, cp) ? C_WORD | C_MARK : C_WORD;
}

KG_INLINE unsigned classify(uint32_t cp) { return cp < 128 ? ascii_class[cp] : class_of(cp); }

/* Decodes the code point at p (p < end) into *cp and its class into *c; returns its length
 * in bytes. An invalid sequence is one byte of class 0: a separator. */
KG_INLINE size_t read_class(const unsigned char *p, const unsigned char *end, uint32_t *cp,
                            unsigned *c)
{
    size_t n;
    if (*p < 0x80) {
        *cp = *p;
        *c = ascii_class[*p];
        return 1;
    }
    n = kg_utf8_decode(p, end, cp);
    *c = *cp == KG_CP_INVALID ? 0 : class_of(*cp);
    return n;
}

uint32_t kg_fold_cp(uint32_t cp)
{
    size_t lo = 0, hi = KG_LOWER_COUNT;
    uint32_t joiner;
    if (cp < 128)
        return cp - 'A' < 26u ? cp + 32 : cp;
    if ((joiner = joiner_fold(cp)) != 0)
        return joiner;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kg_lower[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < KG_LOWER_COUNT && kg_lower[lo][0] == cp ? kg_lower[lo][1] : cp;
}

/* Appends the fold of cp to t; a fold that no longer fits marks t too long. */
static void fold_put(kg_token *t, uint32_t cp)
{
    unsigned char b[4];
    size_t n;
    t->cps++;
    cp = kg_fold_cp(cp);
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (t->too_long || t->len + n > KG_MAX_WORD_BYTES) {
        t->too_long = 1;
        return;
    }
    memcpy(t->bytes + t->len, b, n);
    t->len += n;
}

/* A folded token packed as the abbreviations are (text_tables.h), or 0 when it cannot be
 * one. */
static uint64_t pack_token(const kg_token *t)
{
    uint64_t key = 0;
    size_t i;
    if (t->too_long || t->len > KG_ABBREVIATION_MAX_BYTES)
        return 0;
    for (i = 0; i < t->len; i++)
        key |= (uint64_t)t->bytes[i] << (8 * i);
    return key;
}

static int is_abbreviation(uint64_t key)
{
    size_t i;
    for (i = 0; key && i < sizeof abbreviations / sizeof abbreviations[0]; i++)
        if (abbreviations[i] == key)
            return 1;
    return 0;
}

/* What the sentence rules need to know about a gap (the text between two tokens). */
typedef struct gap {
    unsigned breaks;    /* line breaks, counted up to 2 */
    int term;           /* holds a terminator */
    int term_space;     /* holds a terminator followed later by a space */
    int other_term;     /* holds a terminator other than '.' */
    unsigned cps;       /* code points (an invalid byte counts as one), counted up to 2 */
    uint32_t first;     /* the first code point */
} gap;

/* text.py's ends_sentence(gap, previous, at_end); `previous` packed by pack_token. */
static int gap_ends(const gap *g, uint64_t previous, int at_end)
{
    int ended;
    if (g->breaks >= 2)
        return 1;
    ended = at_end ? g->term : g->term_space;
    if (ended && !g->other_term && is_abbreviation(previous))
        return 0;
    return ended;
}

typedef struct scanner {
    const unsigned char *p, *end;
    uint64_t prev_key; /* the last token returned, packed by pack_token */
    gap g;           /* the gap before the token just returned, or the final gap */
    int boundary;    /* the gap before the token just returned ends the previous sentence */
    int final_ends;  /* at the end: the final gap ends the sentence */
} scanner;

static void scanner_init(scanner *s, const unsigned char *text, size_t len)
{
    memset(s, 0, sizeof *s);
    s->p = text;
    s->end = text + len;
}

/* Advances to the next token and folds it into *t. Returns 1, or 0 at the end of the
 * text. A token is text.py's _TOKEN_RE: word characters, with a single joiner kept when a
 * word character follows it. */
static int scan_next(scanner *s, kg_token *t)
{
    const unsigned char *p = s->p, *end = s->end;
    gap g = {0, 0, 0, 0, 0, 0};
    uint32_t cp = 0;
    size_t n = 0;
    unsigned c;

    /* The gap: everything up to the next character that can start a token. */
    for (;;) {
        if (p >= end) {
            s->p = p;
            s->g = g;
            s->final_ends = gap_ends(&g, s->prev_key, 1);
            return 0;
        }
        n = read_class(p, end, &cp, &c);
        if (C_STARTS(c))
            break;
        if (g.cps == 0)
            g.first = cp;
        if (g.cps < 2)
            g.cps++;
        if ((c & C_BREAK) && g.breaks < 2)
            g.breaks++;
        if ((c & C_SPACE) && g.term)
            g.term_space = 1;
        if (c & C_TERM) {
            g.term = 1;
            if (!(c & C_DOT))
                g.other_term = 1;
        }
        p += n;
    }
    s->g = g;
    s->boundary = gap_ends(&g, s->prev_key, 0);

    /* The token. */
    t->len = 0;
    t->too_long = 0;
    t->cps = 0;
    for (;;) {
        fold_put(t, cp);
        p += n;
        /* ASCII letters and digits, the common case: folded in place. */
        while (p < end && *p < 0x80 && (ascii_class[*p] & C_WORD)) {
            if (t->len < KG_MAX_WORD_BYTES)
                t->bytes[t->len++] = (unsigned char)((unsigned)(*p - 'A') < 26u ? *p + 32 : *p);
            else
                t->too_long = 1;
            t->cps++;
            p++;
        }
        if (p >= end)
            break;
        n = read_class(p, end, &cp, &c);
        if (c & C_WORD)
            continue;
        if (c & C_JOINER) { /* kept only before a character that can start a token */
            const unsigned char *q = p + n;
            uint32_t cp2;
            unsigned c2;
            size_t n2;
            if (q < end) {
                n2 = read_class(q, end, &cp2, &c2);
                if (C_STARTS(c2)) {
                    fold_put(t, cp);
                    p = q;
                    cp = cp2;
                    n = n2;
                    continue;
                }
            }
        }
        break;
    }
    s->p = p;
    s->prev_key = pack_token(t);
    return 1;
}

kg_status kg_text_sentences(const unsigned char *text, size_t len, kg_sentence_fn fn,
                            void *user)
{
    scanner s;
    kg_token t;
    int in_sentence = 0;
    kg_status st;
    scanner_init(&s, text, len);
    while (scan_next(&s, &t)) {
        if (in_sentence && s.boundary) {
            if ((st = fn(user, NULL)) != KG_OK)
                return st;
        }
        if ((st = fn(user, &t)) != KG_OK)
            return st;
        in_sentence = 1;
    }
    /* The last sentence ends with the text, whatever its final gap holds. */
    return in_sentence ? fn(user, NULL) : KG_OK;
}

kg_status kg_text_cursor(const unsigned char *text, size_t len, kg_sentence_fn fn, void *user,
                         kg_token *prefix, int *has_prefix)
{
    /* A token is context once another token follows it, or once the text ends with
     * something other than nothing or one joiner after it. So the scanner folds into two
     * alternating slots and the previous token is passed on when the next one appears. */
    scanner s;
    kg_token slot[2];
    int cur = 0, pending = 0;
    const kg_token *last;
    kg_status st;

    *has_prefix = 0;
    scanner_init(&s, text, len);
    while (scan_next(&s, &slot[cur])) {
        if (pending) {
            if ((st = fn(user, &slot[cur ^ 1])) != KG_OK)
                return st;
            if (s.boundary && (st = fn(user, NULL)) != KG_OK)
                return st;
        }
        pending = 1;
        cur ^= 1;
    }
    if (!pending)
        return KG_OK;
    last = &slot[cur ^ 1];
    if (s.g.cps == 0 || (s.g.cps == 1 && s.g.first < 0x110000 &&
                         (classify(s.g.first) & C_JOINER))) {
        *prefix = *last;
        if (s.g.cps == 1)
            fold_put(prefix, s.g.first);
        *has_prefix = 1;
        return KG_OK;
    }
    if ((st = fn(user, last)) != KG_OK)
        return st;
    return s.final_ends ? fn(user, NULL) : KG_OK;
}

/* The tokens of text[0..len), counted up to `stop`. */
static size_t count_tokens(const unsigned char *text, size_t len, size_t stop)
{
    scanner s;
    kg_token t;
    size_t seen = 0;
    scanner_init(&s, text, len);
    while (seen < stop && scan_next(&s, &t))
        seen++;
    return seen;
}

size_t kg_text_tail(const unsigned char *text, size_t len, size_t tokens, size_t *count)
{
    /* About 8 bytes a token at first (English averages under 6 with its space); doubled
     * until enough tokens are seen. An ASCII white-space byte is a code point of its own
     * (kg_utf8_decode never swallows it into an invalid sequence) that no token holds, so
     * a token starts after it or not at all. */
    size_t span = 8 * (tokens + 2);
    while (span < len) {
        size_t start = len - span, seen;
        while (start < len && !(text[start] < 0x80 && (ascii_class[text[start]] & C_SPACE)))
            start++;
        seen = count_tokens(text + start, len - start, (size_t)-1);
        if (seen > tokens) {
            *count = seen;
            return start + 1;
        }
        span *= 2;
    }
    *count = count_tokens(text, len, (size_t)-1); /* the text is shorter than the span */
    return 0;
}

int kg_text_is_folded_word(const unsigned char *bytes, size_t n)
{
    scanner s;
    kg_token t;
    if (n == 0 || n > KG_MAX_WORD_BYTES)
        return 0;
    scanner_init(&s, bytes, n);
    if (!scan_next(&s, &t) || s.g.cps != 0 || t.too_long)
        return 0;
    if (s.p != bytes + n) /* the token must be the whole word */
        return 0;
    return t.len == n && memcmp(t.bytes, bytes, n) == 0;
}

int kg_text_folds_to(const unsigned char *form, size_t n, const unsigned char *word, size_t m)
{
    const unsigned char *p = form, *pe = form + n, *q = word, *qe = word + m;
    uint32_t a, b;
    while (p < pe && q < qe) {
        p += kg_utf8_decode(p, pe, &a);
        q += kg_utf8_decode(q, qe, &b);
        if (a == KG_CP_INVALID || b == KG_CP_INVALID || kg_fold_cp(a) != b)
            return 0;
    }
    if (p < pe || q < qe)
        return 0; /* one has code points left (invalid ones included) */
    return 1;
}

/* ---- kg_tokenize: the contract's view of a text, written out ---- */

typedef struct writer {
    char *out;
    size_t cap, len;      /* len counts every byte, written or not */
    size_t sentence_start; /* where the current context starts (cursor mode) */
    int first_in_line;
} writer;

static void put(writer *w, const void *b, size_t n)
{
    if (w->len <= w->cap && n <= w->cap - w->len)
        memcpy(w->out + w->len, b, n);
    w->len += n;
}

static void put_token(writer *w, const kg_token *t)
{
    if (!w->first_in_line)
        put(w, " ", 1);
    w->first_in_line = 0;
    if (t->too_long)
        put(w, "<unk>", 5);
    else
        put(w, t->bytes, t->len);
}

static kg_status sentence_event(void *user, const kg_token *t)
{
    writer *w = (writer *)user;
    if (t) {
        put_token(w, t);
    } else {
        put(w, "\n", 1);
        w->first_in_line = 1;
    }
    return KG_OK;
}

static kg_status cursor_event(void *user, const kg_token *t)
{
    writer *w = (writer *)user;
    if (t) {
        put_token(w, t);
    } else { /* the sentence ended: forget its tokens */
        w->len = w->sentence_start;
        w->first_in_line = 1;
    }
    return KG_OK;
}

kg_status kg_tokenize(const char *text, size_t len, int mode, char *out, size_t cap,
                      size_t *written)
{
    writer w;
    kg_status st;
    if ((!text && len) || (!out && cap) || !written)
        return KG_E_INVALID_ARGUMENT;
    w.out = out;
    w.cap = cap;
    w.len = 0;
    w.sentence_start = 0;
    w.first_in_line = 1;
    if (mode == KG_TOKENIZE_SENTENCES) {
        st = kg_text_sentences((const unsigned char *)text, len, sentence_event, &w);
    } else if (mode == KG_TOKENIZE_CURSOR) {
        kg_token prefix;
        int has_prefix;
        st = kg_text_cursor((const unsigned char *)text, len, cursor_event, &w, &prefix,
                            &has_prefix);
        put(&w, "\n", 1);
        if (st == KG_OK && has_prefix) {
            if (prefix.too_long)
                put(&w, "<unk>", 5);
            else
                put(&w, prefix.bytes, prefix.len);
        }
    } else {
        return KG_E_INVALID_ARGUMENT;
    }
    if (st != KG_OK)
        return st;
    *written = w.len;
    return w.len > cap ? KG_E_BUFFER_TOO_SMALL : KG_OK;
}
