/* The META section's JSON: checked at open as the Python reader checks it (strict UTF-8
 * decode, then json.loads refusing NaN and Infinity, then "is it an object" nested at most
 * KG_JSON_MAX_DEPTH deep), and compared by kg_verify with the sections as the reader's
 * meta_problem() compares it (FORMAT.md sections 7 and 8).
 *
 * The grammar is what CPython's json scanner accepts: RFC 8259 with duplicate keys allowed
 * (the last one wins), no control characters inside strings, and integers of at most 4300
 * digits (CPython's int() limit, which json.loads meets). Nesting is limited to
 * KG_JSON_MAX_DEPTH arrays and objects, the object itself included: the format's
 * META_MAX_DEPTH, which both readers enforce (far below CPython's recursion limit, so no
 * deeper text is ever judged by where a parser runs out of stack).
 *
 * The parser is iterative with a bit stack: no recursion, no allocation. */
#include <string.h>

#include "internal.h"

#define KG_JSON_MAX_DEPTH 64 /* META_MAX_DEPTH of sdk/keyglide/format.py */
#define KG_JSON_MAX_INT_DIGITS 4300

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* p at '"'. Returns the byte after the closing quote, or NULL. The text is valid UTF-8
 * already, so only the ASCII structure matters here. */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end)
{
    p++;
    while (p < end) {
        unsigned char c = *p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            c = *p;
            if (c == 'u') {
                int i;
                if (end - p < 5)
                    return NULL;
                for (i = 1; i <= 4; i++)
                    if (!is_hex(p[i]))
                        return NULL;
                p += 5;
                continue;
            }
            if (!strchr("\"\\/bfnrt", c) || c == 0)
                return NULL;
        }
        p++;
    }
    return NULL;
}

/* A number. Returns the byte after it, or NULL. *is_int is set when it is a plain integer
 * (what json.loads turns into an int). NaN, Infinity and -Infinity are refused: the
 * reader's parse_constant rejects them. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end,
                                        int *is_int)
{
    const unsigned char *digits;
    *is_int = 0;
    if (p < end && *p == '-')
        p++;
    digits = p;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && is_digit(*p))
            p++;
    else
        return NULL;
    *is_int = 1;
    if (p + 1 < end && *p == '.' && is_digit(p[1])) {
        *is_int = 0;
        p += 2;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        const unsigned char *q = p + 1;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q < end && is_digit(*q)) {
            *is_int = 0;
            while (q < end && is_digit(*q))
                q++;
            p = q;
        }
        /* else: CPython backs up to before the 'e', which then fails as extra data */
    }
    if (*is_int && p - digits > KG_JSON_MAX_INT_DIGITS)
        return NULL;
    return p;
}

static const unsigned char *scan_literal(const unsigned char *p, const unsigned char *end)
{
    static const char *const words[] = {"null", "true", "false"};
    size_t i;
    for (i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(end - p) >= n && memcmp(p, words[i], n) == 0)
            return p + n;
    }
    return NULL;
}

static int utf8_valid(const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    while (p < end) {
        uint32_t cp;
        if (*p < 0x80) {
            p++;
            continue;
        }
        p += kg_utf8_decode(p, end, &cp);
        if (cp == KG_CP_INVALID)
            return 0;
    }
    return 1;
}

/* One scalar value at p (not an object or array). Returns the byte after it, or NULL. */
static const unsigned char *scan_scalar(const unsigned char *p, const unsigned char *end)
{
    int is_int;
    if (p >= end)
        return NULL;
    if (*p == '"')
        return scan_string(p, end);
    if (*p == 'n' || *p == 't' || *p == 'f')
        return scan_literal(p, end);
    return scan_number(p, end, &is_int);
}

int kg_json_is_object(const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    unsigned char is_object[KG_JSON_MAX_DEPTH];
    int depth = 0;

    if (!utf8_valid(p, n))
        return 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return 0;
    /* A value starts at p; containers push, and after every value the loop looks for a
     * separator or a closing bracket of the innermost container. */
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end)
            return 0;
        if (*p == '{' || *p == '[') {
            if (depth == KG_JSON_MAX_DEPTH)
                return 0;
            is_object[depth++] = *p == '{';
            p = skip_ws(p + 1, end);
            if (p < end && *p == (is_object[depth - 1] ? '}' : ']')) {
                depth--;
                p++;
                goto after_value;
            }
            if (is_object[depth - 1])
                goto key;
            continue;
        }
        p = scan_scalar(p, end);
        if (!p)
            return 0;
    after_value:
        for (;;) {
            if (depth == 0)
                return skip_ws(p, end) == end;
            p = skip_ws(p, end);
            if (p >= end)
                return 0;
            if (*p == ',') {
                p = skip_ws(p + 1, end);
                if (is_object[depth - 1])
                    goto key;
                break; /* the next array element */
            }
            if (*p != (is_object[depth - 1] ? '}' : ']'))
                return 0;
            depth--;
            p++;
        }
        continue;
    key:
        if (p >= end || *p != '"')
            return 0;
        p = scan_string(p, end);
        if (!p)
            return 0;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return 0;
        p++;
    }
}

/* ---- kg_verify: the reader's meta_problem() ---- */

/* The end of the value at p (any kind), by counting brackets outside strings. */
static const unsigned char *skip_value(const unsigned char *p, const unsigned char *end)
{
    long depth = 0;
    p = skip_ws(p, end);
    do {
        if (p >= end)
            return end;
        if (*p == '"') {
            p = scan_string(p, end);
            if (!p)
                return end;
        } else if (*p == '{' || *p == '[') {
            depth++;
            p++;
        } else if (*p == '}' || *p == ']') {
            depth--;
            p++;
        } else if (*p == ',' || *p == ':' || *p == ' ' || *p == '\t' || *p == '\n' ||
                   *p == '\r') {
            p++;
        } else {
            const unsigned char *q = scan_scalar(p, end);
            p = q ? q : end;
        }
    } while (depth > 0);
    return p;
}

static unsigned hex_value(unsigned char c)
{
    return is_digit(c) ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* Whether the JSON string at p (valid, at '"') decodes to exactly the ASCII text s. */
static int string_equals(const unsigned char *p, const unsigned char *end, const char *s)
{
    p++;
    while (p < end && *p != '"') {
        unsigned c = *p++;
        if (c == '\\') {
            c = *p++;
            switch (c) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u':
                c = hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 |
                    hex_value(p[3]);
                p += 4;
                break;
            default: break; /* " \ / stand for themselves */
            }
        }
        if (*s == '\0' || c >= 0x80 || (unsigned char)*s != c)
            return 0;
        s++;
    }
    return *s == '\0';
}

/* Whether the JSON value at p is an integer literal (no fraction, no exponent; true and
 * false are not integers) whose value is n: the reader's is_json_integer(value) and
 * value == n (FORMAT.md section 7). */
static int integer_equals(const unsigned char *p, const unsigned char *end, uint64_t n)
{
    int is_int;
    uint64_t v = 0;
    const unsigned char *q = scan_number(p, end, &is_int);

    if (!q || !is_int)
        return 0;
    if (*p == '-') /* only -0 is a count: JSON has no leading zeros after it */
        return q - p == 2 && p[1] == '0' && n == 0;
    for (; p < q; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return 0; /* far more digits than any count has */
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v == n;
}

static int is_string(const unsigned char *p) { return *p == '"'; }

/* The keys of FORMAT.md section 7 that the metadata must hold (the reader's META_KEYS). */
static const char *const meta_keys[] = {
    "language", "data_version", "tokenizer", "order", "vocab_size", "ngram_counts",
    "discounts", "quantization", "pruning", "builder", "recipe", "inputs", "sources",
};
#define META_KEY_COUNT (sizeof meta_keys / sizeof meta_keys[0])
enum { K_LANGUAGE, K_DATA_VERSION, K_TOKENIZER, K_ORDER, K_VOCAB_SIZE, K_NGRAM_COUNTS };

int kg_json_meta_matches(const unsigned char *p, size_t size, unsigned order, uint64_t vocab,
                         const uint64_t *counts)
{
    const unsigned char *end = p + size, *value[META_KEY_COUNT] = {NULL};
    const unsigned char *q;
    size_t i;
    unsigned listed;

    /* The last value of every key of the top-level object (a Python dict keeps the last). */
    p = skip_ws(p, end) + 1; /* '{' */
    for (;;) {
        const unsigned char *key, *v;
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            break; /* '}' */
        key = p;
        p = skip_ws(scan_string(p, end), end) + 1; /* ':' */
        v = skip_ws(p, end);
        p = skip_ws(skip_value(v, end), end);
        for (i = 0; i < META_KEY_COUNT; i++)
            if (string_equals(key, end, meta_keys[i]))
                value[i] = v;
        if (p < end && *p == ',')
            p++;
        else
            break;
    }
    for (i = 0; i < META_KEY_COUNT; i++)
        if (!value[i])
            return 0;
    if (!is_string(value[K_TOKENIZER]) || !string_equals(value[K_TOKENIZER], end, KG_TOKENIZER_ID))
        return 0;
    if (!integer_equals(value[K_ORDER], end, order) ||
        !integer_equals(value[K_VOCAB_SIZE], end, vocab))
        return 0;
    /* ngram_counts == [count_1, ..., count_N] */
    q = value[K_NGRAM_COUNTS];
    if (*q != '[')
        return 0;
    q = skip_ws(q + 1, end);
    for (listed = 0; q < end && *q != ']'; listed++) {
        if (listed == order || !integer_equals(q, end, counts[listed]))
            return 0;
        q = skip_ws(skip_value(q, end), end);
        if (q < end && *q == ',')
            q = skip_ws(q + 1, end);
    }
    if (listed != order)
        return 0;
    return is_string(value[K_LANGUAGE]) && is_string(value[K_DATA_VERSION]);
}
