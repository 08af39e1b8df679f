/* langdb format constants: the C twin of sdk/keyglide/format.py.
 *
 * langdb/FORMAT.md is the specification of every number here; keep the three in step. */
#ifndef KG_FORMAT_H
#define KG_FORMAT_H

#define KG_FMT_MAGIC "KGLANGDB"
#define KG_FMT_MAGIC_SIZE 8
#define KG_FMT_MAJOR 1
#define KG_FMT_MINOR 2
/* The bytes "KGLD" read as a little-endian u32. */
#define KG_FMT_BYTE_ORDER_MARK 0x444C474Bu

#define KG_FMT_HEADER_SIZE 64
#define KG_FMT_ENTRY_SIZE 32
#define KG_FMT_MAX_SECTIONS 1024
#define KG_FMT_HEADER_CRC_OFFSET 48
#define KG_FMT_SECTION_ALIGN 8

/* Header field offsets (FORMAT.md section 2). */
#define KG_FMT_OFF_MAJOR 8
#define KG_FMT_OFF_MINOR 10
#define KG_FMT_OFF_HEADER_SIZE 12
#define KG_FMT_OFF_REQUIRED 16
#define KG_FMT_OFF_OPTIONAL 24
#define KG_FMT_OFF_FILE_SIZE 32
#define KG_FMT_OFF_SECTION_COUNT 40
#define KG_FMT_OFF_BOM 44
#define KG_FMT_OFF_RESERVED 52
#define KG_FMT_RESERVED_SIZE 12

/* Section entry field offsets (FORMAT.md section 3). */
#define KG_FMT_ENT_ID 0
#define KG_FMT_ENT_TYPE 4
#define KG_FMT_ENT_RESERVED1 5 /* 3 bytes */
#define KG_FMT_ENT_OFFSET 8
#define KG_FMT_ENT_LENGTH 16
#define KG_FMT_ENT_CRC 24
#define KG_FMT_ENT_RESERVED2 28 /* 4 bytes */

/* Element types. */
#define KG_ELEM_U8 1
#define KG_ELEM_U16 2
#define KG_ELEM_U24 3
#define KG_ELEM_U32 4
#define KG_ELEM_I32 5

/* Section kinds; a section id is kind << 8 | order. */
#define KG_KIND_META 0x01
#define KG_KIND_VOCAB_OFFSETS 0x02
#define KG_KIND_VOCAB_BYTES 0x03
#define KG_KIND_PROB_CODEBOOK 0x10
#define KG_KIND_BACKOFF_CODEBOOK 0x11
#define KG_KIND_WORDS 0x20
#define KG_KIND_PROB 0x21
#define KG_KIND_BACKOFF 0x22
#define KG_KIND_CHILDREN 0x23
#define KG_KIND_TOP_NODES 0x30
#define KG_KIND_TOP_STARTS 0x31
#define KG_KIND_TOP_ENTRIES 0x32
#define KG_KIND_BLOCKLIST 0x40 /* order 0, format 1.1: word ids never suggested */
/* Order 0, format 1.2 (feature DISPLAY_FORMS): how words are shown in suggestions. */
#define KG_KIND_DISPLAY_IDS 0x41     /* word ids with a display form, increasing */
#define KG_KIND_DISPLAY_OFFSETS 0x42 /* u32, len(DISPLAY_IDS) + 1 */
#define KG_KIND_DISPLAY_BYTES 0x43   /* u8, the forms' UTF-8 bytes */
/* Order 0, format 1.3 (feature NEURAL): a reranker the kernel validates but never runs. */
#define KG_KIND_NEURAL_INFO 0x50 /* u8, JSON: how to run the graph */
#define KG_KIND_NEURAL_ONNX 0x51 /* u8, an ONNX model */

#define KG_FMT_MIN_ORDER 2
#define KG_FMT_MAX_ORDER 5
#define KG_FMT_MAX_VOCAB (1u << 24)

/* Feature bits (FORMAT.md sections 9 to 11). */
#define KG_FEATURE_BLOCKLIST (1u << 0)     /* format 1.1: the BLOCKLIST section */
#define KG_FEATURE_DISPLAY_FORMS (1u << 1) /* format 1.2: the DISPLAY_* sections */
#define KG_FEATURE_NEURAL (1u << 2)        /* format 1.3: the NEURAL_* sections */

/* Feature bits known to this reader. NEURAL is only ever optional: a file that requires
 * it is refused like one that requires an unknown feature. */
#define KG_FMT_KNOWN_REQUIRED_FEATURES (KG_FEATURE_BLOCKLIST | KG_FEATURE_DISPLAY_FORMS)
#define KG_FMT_KNOWN_OPTIONAL_FEATURES \
    (KG_FEATURE_BLOCKLIST | KG_FEATURE_DISPLAY_FORMS | KG_FEATURE_NEURAL)
/* Known optional features the kernel validates but does not apply: its answers are those of
 * a reader that ignores them, and kg_ignored_features reports them. */
#define KG_FMT_UNAPPLIED_FEATURES KG_FEATURE_NEURAL

/* Fixed-point log10 scores: round(log10(p) * 10000). */
#define KG_SCORE_SCALE 10000
#define KG_SCORE_NEVER (-990000)

/* Special word ids. */
#define KG_ID_UNK 0u
#define KG_ID_BOS 1u
#define KG_ID_EOS 2u
#define KG_FIRST_WORD_ID 3u

/* Nodes with more children than this have a top list of this many entries. */
#define KG_TOP_LIST_LENGTH 16

#define KG_TOKENIZER_ID "keyglide-text-1"

#endif
