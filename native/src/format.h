/* langdb format constants of the kernel (langdb/FORMAT.md specifies every number).
 * Generated from sdk/keyglide/format.py by native/tools/gen_sdk_headers.py; do not edit. */
#ifndef KG_FORMAT_H
#define KG_FORMAT_H

#define KG_FMT_MAGIC "KGLANGDB"
#define KG_FMT_MAGIC_SIZE 8
#define KG_FMT_MAJOR 1
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
/* order 0; UTF-8 JSON */
#define KG_KIND_META 0x01
/* order 0; u32, V + 1 entries */
#define KG_KIND_VOCAB_OFFSETS 0x02
/* order 0; u8, the words' UTF-8 bytes */
#define KG_KIND_VOCAB_BYTES 0x03
/* orders 1..N; i32, 2**(8 * width of PROB_n) entries */
#define KG_KIND_PROB_CODEBOOK 0x10
/* orders 1..N-1; i32, likewise for BACKOFF_n */
#define KG_KIND_BACKOFF_CODEBOOK 0x11
/* orders 2..N; word id of each entry */
#define KG_KIND_WORDS 0x20
/* orders 1..N; probability code of each entry */
#define KG_KIND_PROB 0x21
/* orders 1..N-1; backoff code of each entry */
#define KG_KIND_BACKOFF 0x22
/* orders 1..N-1; count + 1 entries: first child at order n + 1 */
#define KG_KIND_CHILDREN 0x23
/* orders 1..N-1; sorted node ids that have a top list */
#define KG_KIND_TOP_NODES 0x30
/* orders 1..N-1; len(TOP_NODES) + 1 offsets into TOP_ENTRIES */
#define KG_KIND_TOP_STARTS 0x31
/* orders 0..N-1; child entry indices, best first */
#define KG_KIND_TOP_ENTRIES 0x32
/* order 0, format 1.1 (feature BLOCKLIST); word ids never suggested */
#define KG_KIND_BLOCKLIST 0x40
/* order 0, format 1.2 (feature DISPLAY_FORMS); ids with a display form */
#define KG_KIND_DISPLAY_IDS 0x41
/* order 0, format 1.2; u32, len(DISPLAY_IDS) + 1 entries */
#define KG_KIND_DISPLAY_OFFSETS 0x42
/* order 0, format 1.2; u8, the display forms' UTF-8 bytes */
#define KG_KIND_DISPLAY_BYTES 0x43
/* order 0, format 1.3 (feature NEURAL); u8, JSON: how to run the graph */
#define KG_KIND_NEURAL_INFO 0x50
/* order 0, format 1.3; u8, the reranker's ONNX model */
#define KG_KIND_NEURAL_ONNX 0x51

#define KG_FMT_MIN_ORDER 2
#define KG_FMT_MAX_ORDER 5
#define KG_FMT_MAX_VOCAB (1u << 24)

/* Feature bits (FORMAT.md sections 9 to 11). */
/* format 1.1: the BLOCKLIST section, words never suggested */
#define KG_FEATURE_BLOCKLIST (1u << 0)
/* format 1.2: the DISPLAY_* sections, how words are shown */
#define KG_FEATURE_DISPLAY_FORMS (1u << 1)
/* format 1.3: the NEURAL_* sections, a reranker run by an ONNX runtime */
#define KG_FEATURE_NEURAL (1u << 2)

/* Feature bits known to this reader. A known feature missing from the required mask
 * (NEURAL) is only ever optional: a file that requires it is refused. */
#define KG_FMT_KNOWN_REQUIRED_FEATURES (KG_FEATURE_BLOCKLIST | KG_FEATURE_DISPLAY_FORMS)
#define KG_FMT_KNOWN_OPTIONAL_FEATURES \
    (KG_FEATURE_BLOCKLIST | KG_FEATURE_DISPLAY_FORMS | KG_FEATURE_NEURAL)
/* Known optional features the kernel validates but does not apply: its answers are
 * those of a reader that ignores them, and kg_ignored_features reports them. */
#define KG_FMT_UNAPPLIED_FEATURES KG_FEATURE_NEURAL

/* The stored score of a word a model can never predict (ARPA's -99 for <s>). */
#define KG_SCORE_NEVER (-990000)

/* Special word ids. */
#define KG_ID_UNK 0u
#define KG_ID_BOS 1u
#define KG_ID_EOS 2u
#define KG_FIRST_WORD_ID 3u

/* Nodes with more children than this have a top list of this many entries. */
#define KG_TOP_LIST_LENGTH 16

/* The tokenizer of sdk/keyglide/text.py, as META names it. */
#define KG_TOKENIZER_ID "keyglide-text-1"

#endif
