/* Opening, checking and describing a langdb (FORMAT.md sections 1 to 4, 7 and 8). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

unsigned kg_version_number(void) { return KG_VERSION_NUMBER; }

#define KG_STR2(x) #x
#define KG_STR(x) KG_STR2(x)

const char *kg_version_string(void)
{
    return KG_STR(KG_VERSION_MAJOR) "." KG_STR(KG_VERSION_MINOR) "." KG_STR(KG_VERSION_PATCH);
}

const char *kg_status_message(kg_status status)
{
    switch (status) {
    case KG_OK: return "ok";
    case KG_E_INVALID_ARGUMENT: return "invalid argument";
    case KG_E_IO: return "cannot read the file";
    case KG_E_CORRUPT: return "not a valid langdb (corrupt file)";
    case KG_E_TRUNCATED: return "langdb file is truncated";
    case KG_E_CHECKSUM: return "langdb checksum mismatch";
    case KG_E_UNSUPPORTED_VERSION: return "unsupported langdb version or required feature";
    case KG_E_BUFFER_TOO_SMALL: return "output buffer too small";
    case KG_E_NO_MEMORY: return "out of memory";
    case KG_E_NOT_FOUND: return "word not in the vocabulary";
    }
    return "unknown status";
}

/* ---- open ---- */

static unsigned elem_width(unsigned type)
{
    switch (type) {
    case KG_ELEM_U8: return 1;
    case KG_ELEM_U16: return 2;
    case KG_ELEM_U24: return 3;
    case KG_ELEM_U32: return 4;
    case KG_ELEM_I32: return 4;
    default: return 0;
    }
}

static int is_unsigned_type(unsigned type) { return type >= KG_ELEM_U8 && type <= KG_ELEM_U32; }

typedef struct entry {
    uint32_t id;
    unsigned type;
    uint64_t offset, length;
    uint32_t crc;
} entry;

static entry read_entry(const unsigned char *d, uint32_t i)
{
    const unsigned char *e = d + KG_FMT_HEADER_SIZE + (size_t)i * KG_FMT_ENTRY_SIZE;
    entry r;
    r.id = kg_le32(e + KG_FMT_ENT_ID);
    r.type = e[KG_FMT_ENT_TYPE];
    r.offset = kg_le64(e + KG_FMT_ENT_OFFSET);
    r.length = kg_le64(e + KG_FMT_ENT_LENGTH);
    r.crc = kg_le32(e + KG_FMT_ENT_CRC);
    return r;
}

/* The orders at which a known kind exists in a model of order N; 0 for unknown kinds. */
static int kind_orders(unsigned kind, unsigned n_order, unsigned *lo, unsigned *hi)
{
    switch (kind) {
    case KG_KIND_META: case KG_KIND_VOCAB_OFFSETS: case KG_KIND_VOCAB_BYTES:
    case KG_KIND_BLOCKLIST: case KG_KIND_DISPLAY_IDS: case KG_KIND_DISPLAY_OFFSETS:
    case KG_KIND_DISPLAY_BYTES: case KG_KIND_NEURAL_INFO: case KG_KIND_NEURAL_ONNX:
        *lo = 0; *hi = 0; return 1;
    case KG_KIND_PROB_CODEBOOK: case KG_KIND_PROB:
        *lo = 1; *hi = n_order; return 1;
    case KG_KIND_BACKOFF_CODEBOOK: case KG_KIND_BACKOFF: case KG_KIND_CHILDREN:
    case KG_KIND_TOP_NODES: case KG_KIND_TOP_STARTS:
        *lo = 1; *hi = n_order - 1; return 1;
    case KG_KIND_WORDS:
        *lo = 2; *hi = n_order; return 1;
    case KG_KIND_TOP_ENTRIES:
        *lo = 0; *hi = n_order - 1; return 1;
    default:
        return 0;
    }
}

/* Whether a section of this kind may have this element type. */
static int type_allowed(unsigned kind, unsigned type)
{
    switch (kind) {
    case KG_KIND_META: case KG_KIND_VOCAB_BYTES: case KG_KIND_DISPLAY_BYTES:
    case KG_KIND_NEURAL_INFO: case KG_KIND_NEURAL_ONNX:
        return type == KG_ELEM_U8;
    case KG_KIND_VOCAB_OFFSETS: case KG_KIND_DISPLAY_OFFSETS: return type == KG_ELEM_U32;
    case KG_KIND_PROB_CODEBOOK: case KG_KIND_BACKOFF_CODEBOOK: return type == KG_ELEM_I32;
    case KG_KIND_PROB: case KG_KIND_BACKOFF: return type == KG_ELEM_U8 || type == KG_ELEM_U16;
    default: return is_unsigned_type(type);
    }
}

static kg_col *slot_of(kg_db *db, unsigned kind, unsigned order)
{
    switch (kind) {
    case KG_KIND_META: return &db->meta;
    case KG_KIND_VOCAB_OFFSETS: return &db->vocab_offsets;
    case KG_KIND_VOCAB_BYTES: return &db->vocab_bytes;
    case KG_KIND_PROB_CODEBOOK: return &db->prob_cb[order];
    case KG_KIND_BACKOFF_CODEBOOK: return &db->backoff_cb[order];
    case KG_KIND_WORDS: return &db->words[order];
    case KG_KIND_PROB: return &db->prob[order];
    case KG_KIND_BACKOFF: return &db->backoff[order];
    case KG_KIND_CHILDREN: return &db->children[order];
    case KG_KIND_TOP_NODES: return &db->top_nodes[order];
    case KG_KIND_TOP_STARTS: return &db->top_starts[order];
    case KG_KIND_TOP_ENTRIES: return &db->top_entries[order];
    case KG_KIND_BLOCKLIST: return &db->blocklist;
    case KG_KIND_DISPLAY_IDS: return &db->display_ids;
    case KG_KIND_DISPLAY_OFFSETS: return &db->display_offsets;
    case KG_KIND_DISPLAY_BYTES: return &db->display_bytes;
    case KG_KIND_NEURAL_INFO: return &db->neural_info;
    case KG_KIND_NEURAL_ONNX: return &db->neural_onnx;
    default: return NULL;
    }
}

/* The feature bit whose sections a kind belongs to (FORMAT.md sections 9 and 10), or 0. */
static uint64_t feature_of_kind(unsigned kind)
{
    switch (kind) {
    case KG_KIND_BLOCKLIST: return KG_FEATURE_BLOCKLIST;
    case KG_KIND_DISPLAY_IDS: case KG_KIND_DISPLAY_OFFSETS: case KG_KIND_DISPLAY_BYTES:
        return KG_FEATURE_DISPLAY_FORMS;
    case KG_KIND_NEURAL_INFO: case KG_KIND_NEURAL_ONNX: return KG_FEATURE_NEURAL;
    default: return 0;
    }
}

/* Whether a feature bit is set in either mask (a reader that knows it accepts both). */
static int has_feature(const kg_db *db, uint64_t bit)
{
    return ((db->required_features | db->optional_features) & bit) != 0;
}

/* Sections by offset, then length (as the Python reader sorts them). */
static int cmp_offset(const void *a, const void *b)
{
    const entry *x = (const entry *)a, *y = (const entry *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->length < y->length ? -1 : x->length > y->length;
}

/* The sections sorted by offset (section_count entries; free() it), or NULL. */
static entry *sections_by_offset(const kg_db *db)
{
    uint32_t i;
    entry *sorted = (entry *)malloc((db->section_count ? db->section_count : 1) * sizeof *sorted);
    if (!sorted)
        return NULL;
    for (i = 0; i < db->section_count; i++)
        sorted[i] = read_entry(db->data, i);
    qsort(sorted, db->section_count, sizeof *sorted, cmp_offset);
    return sorted;
}

/* The checks below run in the order the Python reader (sdk/keyglide/reader.py) runs them,
 * so that a file with several problems gets the same kind of error from both. */

static kg_status check_header(const unsigned char *d, size_t size, kg_db *db)
{
    uint32_t header_size, crc;
    uint64_t file_size;
    unsigned char head[KG_FMT_HEADER_SIZE];

    if (size < KG_FMT_MAGIC_SIZE) { /* a start of the magic is a truncated file */
        size_t i;
        for (i = 0; i < size; i++)
            if (d[i] != (unsigned char)KG_FMT_MAGIC[i])
                return KG_E_CORRUPT;
        return KG_E_TRUNCATED;
    }
    if (memcmp(d, KG_FMT_MAGIC, KG_FMT_MAGIC_SIZE) != 0)
        return KG_E_CORRUPT; /* a zero magic is a build that did not finish */
    if (size < KG_FMT_HEADER_SIZE)
        return KG_E_TRUNCATED;
    if (kg_le32(d + KG_FMT_OFF_BOM) != KG_FMT_BYTE_ORDER_MARK)
        return KG_E_CORRUPT;
    db->major = kg_le16(d + KG_FMT_OFF_MAJOR);
    db->minor = kg_le16(d + KG_FMT_OFF_MINOR);
    if (db->major != KG_FMT_MAJOR)
        return KG_E_UNSUPPORTED_VERSION;
    header_size = kg_le32(d + KG_FMT_OFF_HEADER_SIZE);
    db->section_count = kg_le32(d + KG_FMT_OFF_SECTION_COUNT);
    if (db->section_count > KG_FMT_MAX_SECTIONS ||
        header_size != KG_FMT_HEADER_SIZE + KG_FMT_ENTRY_SIZE * db->section_count)
        return KG_E_CORRUPT;
    if (size < header_size)
        return KG_E_TRUNCATED;
    /* CRC of [0, header_size) with the CRC field read as zero. */
    memcpy(head, d, sizeof head);
    memset(head + KG_FMT_HEADER_CRC_OFFSET, 0, 4);
    crc = kg_crc32(0, head, sizeof head);
    crc = kg_crc32(crc, d + KG_FMT_HEADER_SIZE, header_size - KG_FMT_HEADER_SIZE);
    if (crc != kg_le32(d + KG_FMT_HEADER_CRC_OFFSET))
        return KG_E_CHECKSUM;
    file_size = kg_le64(d + KG_FMT_OFF_FILE_SIZE);
    if (file_size > size)
        return KG_E_TRUNCATED;
    if (file_size < size)
        return KG_E_CORRUPT;
    db->required_features = kg_le64(d + KG_FMT_OFF_REQUIRED);
    db->optional_features = kg_le64(d + KG_FMT_OFF_OPTIONAL);
    if (db->required_features & ~(uint64_t)KG_FMT_KNOWN_REQUIRED_FEATURES)
        return KG_E_UNSUPPORTED_VERSION;
    return KG_OK;
}

static kg_status check_sections(const unsigned char *d, size_t size, kg_db *db)
{
    uint32_t i, header_size = KG_FMT_HEADER_SIZE + KG_FMT_ENTRY_SIZE * db->section_count;
    unsigned n_order = 0, order, lo, hi, seen_orders = 0;
    uint64_t end;
    entry *sorted;

    /* Each entry on its own. */
    for (i = 0; i < db->section_count; i++) {
        entry e = read_entry(d, i);
        unsigned w = elem_width(e.type);
        if (i > 0 && e.id <= read_entry(d, i - 1).id)
            return KG_E_CORRUPT;
        if (w == 0 || e.offset % KG_FMT_SECTION_ALIGN != 0 || e.offset < header_size ||
            e.length % w != 0)
            return KG_E_CORRUPT;
        if (e.offset > size || e.length > size - e.offset)
            return KG_E_TRUNCATED;
    }
    /* No two sections share a byte (a zero-length section inside another counts as
     * overlapping it, as in the reader). */
    if (!(sorted = sections_by_offset(db)))
        return KG_E_NO_MEMORY;
    end = header_size;
    for (i = 0; i < db->section_count; i++) {
        if (sorted[i].offset < end)
            break;
        end = sorted[i].offset + sorted[i].length;
    }
    free(sorted);
    if (i < db->section_count)
        return KG_E_CORRUPT;
    /* The orders: PROB_1 .. PROB_N exactly, N from 2 to 5. */
    for (i = 0; i < db->section_count; i++) {
        uint32_t id = read_entry(d, i).id;
        if (id >> 8 == KG_KIND_PROB) {
            order = id & 0xFF;
            if (order < 1 || order > KG_FMT_MAX_ORDER)
                return KG_E_CORRUPT;
            seen_orders |= 1u << order;
            n_order++;
        }
    }
    if (n_order < KG_FMT_MIN_ORDER || n_order > KG_FMT_MAX_ORDER ||
        seen_orders != ((1u << (n_order + 1)) - 2))
        return KG_E_CORRUPT;
    db->order = n_order;
    /* Every section of a known kind belongs to this order and has an allowed type. */
    for (i = 0; i < db->section_count; i++) {
        entry e = read_entry(d, i);
        unsigned kind = e.id >> 8;
        kg_col *c;
        order = e.id & 0xFF;
        if (!kind_orders(kind, n_order, &lo, &hi))
            continue; /* unknown section (a later minor version): skipped */
        if (feature_of_kind(kind) && order == 0 && !has_feature(db, feature_of_kind(kind)))
            return KG_E_CORRUPT; /* present, but its feature bit is not set */
        if (order < lo || order > hi || !type_allowed(kind, e.type))
            return KG_E_CORRUPT;
        c = slot_of(db, kind, order);
        c->p = d + e.offset;
        c->width = elem_width(e.type);
        c->type = e.type;
        c->n = e.length / c->width;
        c->present = 1;
    }
    return KG_OK;
}

/* Every required section is present, with the entry counts FORMAT.md section 4 gives and
 * the O(1) end points the reader checks (first and last offsets, first and last child). */
static kg_status check_counts(kg_db *db)
{
    unsigned n, N = db->order;
    uint64_t cn;
    if (!db->meta.present || !db->vocab_offsets.present || !db->vocab_bytes.present ||
        !db->top_entries[0].present)
        return KG_E_CORRUPT;
    if (has_feature(db, KG_FEATURE_BLOCKLIST) && !db->blocklist.present)
        return KG_E_CORRUPT;
    if (has_feature(db, KG_FEATURE_DISPLAY_FORMS) &&
        (!db->display_ids.present || !db->display_offsets.present || !db->display_bytes.present))
        return KG_E_CORRUPT;
    if (has_feature(db, KG_FEATURE_NEURAL) && (!db->neural_info.present || !db->neural_onnx.present))
        return KG_E_CORRUPT;
    for (n = 1; n <= N; n++) {
        if (!db->prob[n].present || !db->prob_cb[n].present || (n >= 2 && !db->words[n].present))
            return KG_E_CORRUPT;
        if (n < N && (!db->backoff[n].present || !db->backoff_cb[n].present ||
                      !db->children[n].present || !db->top_nodes[n].present ||
                      !db->top_starts[n].present || !db->top_entries[n].present))
            return KG_E_CORRUPT;
    }
    /* The vocabulary. */
    if (db->vocab_offsets.n < 1 + KG_FIRST_WORD_ID || db->vocab_offsets.n - 1 > KG_FMT_MAX_VOCAB)
        return KG_E_CORRUPT;
    db->vocab = (uint32_t)(db->vocab_offsets.n - 1);
    if (kg_col_get(&db->vocab_offsets, 0) != 0 ||
        kg_col_get(&db->vocab_offsets, db->vocab) != db->vocab_bytes.n)
        return KG_E_CORRUPT;
    /* The trie. */
    db->count[1] = db->vocab;
    for (n = 2; n <= N; n++)
        db->count[n] = db->words[n].n;
    for (n = 1; n <= N; n++) {
        cn = db->count[n];
        if (db->prob[n].n != cn)
            return KG_E_CORRUPT;
        if (n == N)
            break;
        if (db->backoff[n].n != cn || db->children[n].n != cn + 1 ||
            kg_col_get(&db->children[n], 0) != 0 ||
            kg_col_get(&db->children[n], cn) != db->count[n + 1])
            return KG_E_CORRUPT;
    }
    /* Codebooks: one score per possible code. */
    for (n = 1; n <= N; n++) {
        if (db->prob_cb[n].n != (uint64_t)1 << (8 * db->prob[n].width))
            return KG_E_CORRUPT;
        if (n < N && db->backoff_cb[n].n != (uint64_t)1 << (8 * db->backoff[n].width))
            return KG_E_CORRUPT;
    }
    /* Top lists. */
    if (db->top_entries[0].n != db->vocab)
        return KG_E_CORRUPT;
    for (n = 1; n < N; n++) {
        const kg_col *starts = &db->top_starts[n];
        if (starts->n != db->top_nodes[n].n + 1 || kg_col_get(starts, 0) != 0 ||
            kg_col_get(starts, starts->n - 1) != db->top_entries[n].n)
            return KG_E_CORRUPT;
    }
    /* Display forms (format 1.2): D + 1 offsets from 0 to len(DISPLAY_BYTES). */
    if (db->display_ids.present) {
        const kg_col *off = &db->display_offsets;
        if (off->n != db->display_ids.n + 1 || kg_col_get(off, 0) != 0 ||
            kg_col_get(off, off->n - 1) != db->display_bytes.n)
            return KG_E_CORRUPT;
    }
    return KG_OK;
}

static kg_status check_meta(kg_db *db)
{
    const unsigned char *d = db->data;
    uint32_t i;
    for (i = 0; i < db->section_count; i++) {
        entry e = read_entry(d, i);
        if (e.id == (uint32_t)KG_KIND_META << 8) {
            if (kg_crc32(0, d + e.offset, (size_t)e.length) != e.crc)
                return KG_E_CHECKSUM;
            break;
        }
    }
    return kg_json_is_object(db->meta.p, (size_t)db->meta.n) ? KG_OK : KG_E_CORRUPT;
}

kg_status kg_open_buffer(const void *data, size_t size, kg_db **out)
{
    kg_db *db;
    kg_status st;
    if (!out || (!data && size))
        return KG_E_INVALID_ARGUMENT;
    db = (kg_db *)calloc(1, sizeof *db);
    if (!db)
        return KG_E_NO_MEMORY;
    db->data = (const unsigned char *)data;
    db->size = size;
    if ((st = check_header(db->data, size, db)) != KG_OK ||
        (st = check_sections(db->data, size, db)) != KG_OK ||
        (st = check_counts(db)) != KG_OK || (st = check_meta(db)) != KG_OK) {
        free(db);
        return st;
    }
    *out = db;
    return KG_OK;
}

/* kg_open_path and kg_close live in open_path.c: the only POSIX code. */

/* ---- properties ---- */

unsigned kg_order(const kg_db *db) { return db ? db->order : 0; }

uint32_t kg_vocab_size(const kg_db *db) { return db ? db->vocab : 0; }

uint64_t kg_ngram_count(const kg_db *db, unsigned n)
{
    return db && n >= 1 && n <= db->order ? db->count[n] : 0;
}

void kg_format_version(const kg_db *db, unsigned *major, unsigned *minor)
{
    if (major)
        *major = db ? db->major : 0;
    if (minor)
        *minor = db ? db->minor : 0;
}

uint64_t kg_required_features(const kg_db *db) { return db ? db->required_features : 0; }

uint64_t kg_optional_features(const kg_db *db) { return db ? db->optional_features : 0; }

uint64_t kg_ignored_features(const kg_db *db)
{
    uint64_t applied = KG_FMT_KNOWN_OPTIONAL_FEATURES & ~(uint64_t)KG_FMT_UNAPPLIED_FEATURES;
    return db ? db->optional_features & ~applied : 0;
}

kg_status kg_metadata(const kg_db *db, const char **json, size_t *len)
{
    if (!db || !json || !len)
        return KG_E_INVALID_ARGUMENT;
    *json = (const char *)db->meta.p;
    *len = (size_t)db->meta.n;
    return KG_OK;
}

/* ---- words ---- */

kg_status kg_word(const kg_db *db, uint32_t id, const char **utf8, size_t *len)
{
    const unsigned char *p;
    size_t n;
    kg_status st;
    if (!db || !utf8 || !len || id >= db->vocab)
        return KG_E_INVALID_ARGUMENT;
    if ((st = kg_word_bytes(db, id, &p, &n)) != KG_OK)
        return st;
    *utf8 = (const char *)p;
    *len = n;
    return KG_OK;
}

/* The display form of word id (format 1.2): *found is 0 when it has none. Every id and
 * offset read is checked, so a damaged file gives KG_E_CORRUPT or a wrong form, never a
 * read outside DISPLAY_BYTES. */
static kg_status display_bytes(const kg_db *db, uint32_t id, const unsigned char **p,
                               size_t *len, int *found)
{
    const kg_col *ids = &db->display_ids, *off = &db->display_offsets;
    uint64_t n = ids->present ? ids->n : 0, lo = kg_col_lower_bound(ids, 0, n, id);
    uint32_t a, b;
    *found = 0;
    if (lo == n || kg_col_get(ids, lo) != id)
        return KG_OK;
    if (lo + 1 >= off->n) /* cannot happen: open checked len(OFFSETS) = len(IDS) + 1 */
        return KG_E_CORRUPT;
    a = kg_col_get(off, lo);
    b = kg_col_get(off, lo + 1);
    if (a > b || b > db->display_bytes.n)
        return KG_E_CORRUPT;
    *p = db->display_bytes.p + a;
    *len = b - a;
    *found = 1;
    return KG_OK;
}

kg_status kg_display(const kg_db *db, uint32_t id, const char **utf8, size_t *len)
{
    const unsigned char *p = NULL;
    size_t n = 0;
    int found;
    kg_status st;
    if (!db || !utf8 || !len || id >= db->vocab)
        return KG_E_INVALID_ARGUMENT;
    if ((st = display_bytes(db, id, &p, &n, &found)) != KG_OK)
        return st;
    if (!found && (st = kg_word_bytes(db, id, &p, &n)) != KG_OK)
        return st;
    *utf8 = (const char *)p;
    *len = n;
    return KG_OK;
}

/* Byte order of word id against s[0..n). */
static kg_status compare_word(const kg_db *db, uint32_t id, const unsigned char *s, size_t n,
                              int *cmp)
{
    const unsigned char *p;
    size_t len;
    int c;
    size_t i, m;
    kg_status st = kg_word_bytes(db, id, &p, &len);
    if (st != KG_OK)
        return st;
    /* Words are short: a byte loop beats a call to memcmp. */
    m = len < n ? len : n;
    for (i = 0; i < m && p[i] == s[i]; i++)
        ;
    c = i < m ? (int)p[i] - (int)s[i] : 0;
    *cmp = c != 0 ? c : (len > n) - (len < n);
    return KG_OK;
}

kg_status kg_find_word(const kg_db *db, const unsigned char *s, size_t n, uint32_t *id)
{
    uint32_t lo = KG_FIRST_WORD_ID, hi = db->vocab;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c;
        kg_status st = compare_word(db, mid, s, n, &c);
        if (st != KG_OK)
            return st;
        if (c == 0) {
            *id = mid;
            return KG_OK;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return KG_E_NOT_FOUND;
}

kg_status kg_lookup(const kg_db *db, const char *utf8, size_t len, uint32_t *id)
{
    if (!db || !id || (!utf8 && len))
        return KG_E_INVALID_ARGUMENT;
    return kg_find_word(db, (const unsigned char *)utf8, len, id);
}

kg_status kg_prefix_range(const kg_db *db, const unsigned char *s, size_t n, uint32_t *lo_out,
                          uint32_t *hi_out)
{
    /* Words starting with s are consecutive: the first is the first word >= s, the end is
     * the first word after them that does not start with s. */
    uint32_t lo = KG_FIRST_WORD_ID, hi = db->vocab, first;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c;
        kg_status st = compare_word(db, mid, s, n, &c);
        if (st != KG_OK)
            return st;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    first = lo;
    hi = db->vocab;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const unsigned char *p;
        size_t len;
        kg_status st = kg_word_bytes(db, mid, &p, &len);
        if (st != KG_OK)
            return st;
        if (len >= n && memcmp(p, s, n) == 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *lo_out = first;
    *hi_out = lo;
    return KG_OK;
}

/* ---- verify ---- */

static int all_zero(const unsigned char *p, size_t n)
{
    while (n--)
        if (*p++)
            return 0;
    return 1;
}

/* Reserved fields and padding, then every section's CRC (the reader's order). */
static kg_status verify_layout(const kg_db *db)
{
    const unsigned char *d = db->data;
    uint32_t i, header_size = KG_FMT_HEADER_SIZE + KG_FMT_ENTRY_SIZE * db->section_count;
    uint64_t pos;
    entry *sorted;

    if (!all_zero(d + KG_FMT_OFF_RESERVED, KG_FMT_RESERVED_SIZE))
        return KG_E_CORRUPT;
    for (i = 0; i < db->section_count; i++) {
        const unsigned char *e = d + KG_FMT_HEADER_SIZE + (size_t)i * KG_FMT_ENTRY_SIZE;
        if (!all_zero(e + KG_FMT_ENT_RESERVED1, 3) || !all_zero(e + KG_FMT_ENT_RESERVED2, 4))
            return KG_E_CORRUPT;
    }
    /* Sections are packed: 0 to 7 zero bytes before each, none after the last. */
    if (!(sorted = sections_by_offset(db)))
        return KG_E_NO_MEMORY;
    pos = header_size;
    for (i = 0; i < db->section_count; i++) {
        if (sorted[i].offset - pos >= KG_FMT_SECTION_ALIGN ||
            !all_zero(d + pos, (size_t)(sorted[i].offset - pos)))
            break;
        pos = sorted[i].offset + sorted[i].length;
    }
    free(sorted);
    if (i < db->section_count || pos != db->size)
        return KG_E_CORRUPT;
    for (i = 0; i < db->section_count; i++) {
        entry e = read_entry(d, i);
        if (kg_crc32(0, d + e.offset, (size_t)e.length) != e.crc)
            return KG_E_CHECKSUM;
    }
    return KG_OK;
}

static kg_status verify_vocab(const kg_db *db)
{
    static const char *const specials[3] = {"<unk>", "<s>", "</s>"};
    const unsigned char *prev = NULL, *p;
    size_t prev_len = 0, len;
    uint32_t id;
    if (kg_col_get(&db->vocab_offsets, 0) != 0)
        return KG_E_CORRUPT;
    for (id = 0; id < db->vocab; id++) {
        if (kg_word_bytes(db, id, &p, &len) != KG_OK)
            return KG_E_CORRUPT;
        if (id < KG_FIRST_WORD_ID) {
            if (len != strlen(specials[id]) || memcmp(p, specials[id], len) != 0)
                return KG_E_CORRUPT;
            continue;
        }
        /* A folded token of the contract (so non-empty, short, valid UTF-8) ... */
        if (!kg_text_is_folded_word(p, len))
            return KG_E_CORRUPT;
        /* ... in strictly increasing byte order. */
        if (prev) {
            int c = memcmp(prev, p, prev_len < len ? prev_len : len);
            if (c > 0 || (c == 0 && prev_len >= len))
                return KG_E_CORRUPT;
        }
        prev = p;
        prev_len = len;
    }
    return KG_OK;
}

/* The reader's MAX_CODEBOOK_SCORE: KG_FMT_MAX_ORDER scores always add up within int32,
 * so that a verified file's suggestion scores are never saturated (kg_suggestion). */
#define KG_MAX_CODEBOOK_SCORE (INT32_MAX / KG_FMT_MAX_ORDER)

/* Non-decreasing, and every score within +-KG_MAX_CODEBOOK_SCORE. */
static int codebook_valid(const kg_col *cb)
{
    uint64_t i;
    if (cb->n && (kg_codebook_get(cb, 0) < -KG_MAX_CODEBOOK_SCORE ||
                  kg_codebook_get(cb, (uint32_t)(cb->n - 1)) > KG_MAX_CODEBOOK_SCORE))
        return 0;
    for (i = 1; i < cb->n; i++)
        if (kg_codebook_get(cb, (uint32_t)i) < kg_codebook_get(cb, (uint32_t)(i - 1)))
            return 0;
    return 1;
}

KG_INLINE int32_t prob_at(const kg_db *db, unsigned n, uint64_t i)
{
    return kg_codebook_get(&db->prob_cb[n], kg_col_get(&db->prob[n], i));
}

KG_INLINE uint32_t word_at(const kg_db *db, unsigned n, uint64_t i)
{
    return n == 1 ? (uint32_t)i : kg_col_get(&db->words[n], i);
}

/* Whether child entry x ranks before y in a top list: score descending, then id. */
KG_INLINE int ranks_before(int32_t sx, uint32_t wx, int32_t sy, uint32_t wy)
{
    return sx > sy || (sx == sy && wx < wy);
}

static kg_status verify_trie(const kg_db *db)
{
    unsigned n, N = db->order;
    uint64_t i, j;
    for (n = 1; n <= N; n++) {
        if (!codebook_valid(&db->prob_cb[n]))
            return KG_E_CORRUPT;
        if (n < N && !codebook_valid(&db->backoff_cb[n]))
            return KG_E_CORRUPT;
        if (n >= 2)
            for (i = 0; i < db->count[n]; i++)
                if (kg_col_get(&db->words[n], i) >= db->vocab)
                    return KG_E_CORRUPT;
        if (n == N)
            break;
        /* CHILDREN_n: from 0 to count_{n+1}, non-decreasing; children sorted by word. */
        if (kg_col_get(&db->children[n], 0) != 0 ||
            kg_col_get(&db->children[n], db->count[n]) != db->count[n + 1])
            return KG_E_CORRUPT;
        for (i = 0; i < db->count[n]; i++) {
            uint64_t a = kg_col_get(&db->children[n], i);
            uint64_t b = kg_col_get(&db->children[n], i + 1);
            /* Bound b before the loop reads WORDS_{n+1}[b - 1]: open checks only the end
             * points of CHILDREN_n, so an interior entry may point past the section. */
            if (a > b || b > db->count[n + 1])
                return KG_E_CORRUPT;
            for (j = a + 1; j < b; j++)
                if (kg_col_get(&db->words[n + 1], j) <= kg_col_get(&db->words[n + 1], j - 1))
                    return KG_E_CORRUPT;
        }
    }
    /* <s> is never predicted: its unigram score is SCORE_NEVER. */
    return prob_at(db, 1, KG_ID_BOS) == KG_SCORE_NEVER ? KG_OK : KG_E_CORRUPT;
}

/* One top list: entries [s, e) of TOP_ENTRIES_n must be the first `want` of the children
 * [a, b) at order n + 1 (for n = 0: every unigram), in rank order. */
static kg_status verify_top_list(const kg_db *db, unsigned n, uint64_t s, uint64_t e,
                                 uint64_t a, uint64_t b, uint64_t want)
{
    const kg_col *entries = &db->top_entries[n];
    uint64_t t, c, better = 0;
    int32_t last_score = 0;
    uint32_t last_word = 0;
    if (e - s != want)
        return KG_E_CORRUPT;
    for (t = s; t < e; t++) {
        int32_t sc;
        uint32_t w;
        c = kg_col_get(entries, t);
        if (c < a || c >= b)
            return KG_E_CORRUPT;
        sc = prob_at(db, n + 1, c);
        w = word_at(db, n + 1, c);
        if (t > s && !ranks_before(last_score, last_word, sc, w))
            return KG_E_CORRUPT;
        last_score = sc;
        last_word = w;
    }
    if (want == 0)
        return KG_OK;
    /* The list is strictly ordered and inside [a, b); it is the *first* `want` children
     * exactly when no more than `want` children rank at or before its last entry. */
    for (c = a; c < b; c++)
        if (!ranks_before(last_score, last_word, prob_at(db, n + 1, c), word_at(db, n + 1, c)))
            better++;
    return better == want ? KG_OK : KG_E_CORRUPT;
}

static kg_status verify_top_lists(const kg_db *db)
{
    unsigned n, N = db->order;
    uint64_t i, t;
    kg_status st;
    /* TOP_ENTRIES_0: every unigram, best first. */
    st = verify_top_list(db, 0, 0, db->top_entries[0].n, 0, db->vocab, db->vocab);
    if (st != KG_OK)
        return st;
    for (n = 1; n < N; n++) {
        const kg_col *nodes = &db->top_nodes[n], *starts = &db->top_starts[n];
        if (kg_col_get(starts, 0) != 0 || kg_col_get(starts, nodes->n) != db->top_entries[n].n)
            return KG_E_CORRUPT;
        /* TOP_NODES_n is exactly the nodes with more than TOP_LIST_LENGTH children. */
        for (i = 0, t = 0; i < db->count[n]; i++) {
            uint64_t a = kg_col_get(&db->children[n], i);
            uint64_t b = kg_col_get(&db->children[n], i + 1);
            int listed = t < nodes->n && kg_col_get(nodes, t) == i;
            if (listed != (b - a > KG_TOP_LIST_LENGTH))
                return KG_E_CORRUPT;
            if (listed) {
                uint64_t s = kg_col_get(starts, t), e = kg_col_get(starts, t + 1);
                if (s > e || e > db->top_entries[n].n)
                    return KG_E_CORRUPT;
                st = verify_top_list(db, n, s, e, a, b, KG_TOP_LIST_LENGTH);
                if (st != KG_OK)
                    return st;
                t++;
            }
        }
        if (t != nodes->n)
            return KG_E_CORRUPT;
    }
    return KG_OK;
}

/* BLOCKLIST: strictly increasing word ids, each >= 3 and < V. */
static kg_status verify_blocklist(const kg_db *db)
{
    uint64_t i;
    uint32_t w, last = 0;
    if (!db->blocklist.present)
        return KG_OK;
    for (i = 0; i < db->blocklist.n; i++) {
        w = kg_col_get(&db->blocklist, i);
        if (w < KG_FIRST_WORD_ID || w >= db->vocab || (i > 0 && w <= last))
            return KG_E_CORRUPT;
        last = w;
    }
    return KG_OK;
}

/* Display forms (format 1.2): ids strictly increasing, each >= 3 and < V; offsets
 * non-decreasing; each form valid UTF-8, different from its word, and folding to it. */
static kg_status verify_display_forms(const kg_db *db)
{
    const kg_col *ids = &db->display_ids, *off = &db->display_offsets;
    const unsigned char *word;
    size_t word_len;
    uint64_t i;
    uint32_t w, last = 0, a, b;
    if (!ids->present)
        return KG_OK;
    for (i = 0; i < ids->n; i++) {
        w = kg_col_get(ids, i);
        if (w < KG_FIRST_WORD_ID || w >= db->vocab || (i > 0 && w <= last))
            return KG_E_CORRUPT;
        last = w;
    }
    for (i = 0; i < ids->n; i++)
        if (kg_col_get(off, i) > kg_col_get(off, i + 1))
            return KG_E_CORRUPT;
    for (i = 0; i < ids->n; i++) {
        const unsigned char *form;
        a = kg_col_get(off, i);
        b = kg_col_get(off, i + 1);
        /* In bounds after the checks above and verify_vocab's; checked all the same. */
        if (b > db->display_bytes.n ||
            kg_word_bytes(db, kg_col_get(ids, i), &word, &word_len) != KG_OK)
            return KG_E_CORRUPT;
        form = db->display_bytes.p + a;
        if ((b - a == word_len && memcmp(form, word, word_len) == 0) ||
            !kg_text_folds_to(form, b - a, word, word_len))
            return KG_E_CORRUPT;
    }
    return KG_OK;
}

static kg_status verify_meta(const kg_db *db)
{
    return kg_json_meta_matches(db->meta.p, (size_t)db->meta.n, db->order, db->vocab,
                                db->count + 1)
               ? KG_OK
               : KG_E_CORRUPT;
}

kg_status kg_verify(const kg_db *db)
{
    kg_status st;
    if (!db)
        return KG_E_INVALID_ARGUMENT;
    if ((st = verify_layout(db)) != KG_OK || (st = verify_vocab(db)) != KG_OK ||
        (st = verify_meta(db)) != KG_OK || (st = verify_trie(db)) != KG_OK ||
        (st = verify_top_lists(db)) != KG_OK || (st = verify_blocklist(db)) != KG_OK ||
        (st = verify_display_forms(db)) != KG_OK)
        return st;
    return KG_OK;
}
