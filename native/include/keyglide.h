/*
 * keyglide.h -- the keyglide prediction kernel, C99 public interface.
 *
 * keyglide predicts the next word (or completes the word being typed) from the text before
 * the cursor, with an n-gram language model stored in a langdb file (langdb/FORMAT.md).
 * The kernel reads the file in place: opening is O(1) in the file size, prediction does no
 * allocation, and one handle may be used from any number of threads at once.
 *
 * Typical use:
 *
 *     kg_db *db;
 *     kg_status st = kg_open_path("en.langdb", &db);
 *     if (st != KG_OK) { fprintf(stderr, "%s\n", kg_status_message(st)); return 1; }
 *     kg_suggestion out[3];
 *     size_t n;
 *     st = kg_predict(db, text, strlen(text), 3, out, &n);
 *     for (size_t i = 0; st == KG_OK && i < n; i++) {
 *         const char *w; size_t len;
 *         kg_display(db, out[i].word_id, &w, &len);
 *         printf("%.*s\t%d\n", (int)len, w, (int)out[i].score);
 *     }
 *     kg_close(db);
 *
 * Conventions. Every function that can fail returns a kg_status; output parameters are
 * written only when it returns KG_OK. Text is UTF-8 given as (pointer, length): it need not
 * be NUL-terminated and may hold any bytes (invalid sequences separate words, as the
 * tokenization contract says). Scores are fixed-point log10 probabilities:
 * score = round(log10(p) * 10000). No function keeps a pointer to its arguments after it
 * returns, except kg_open_buffer (see there).
 *
 * Thread safety. The library has no global mutable state. A kg_db is immutable once
 * opened: every function taking a `const kg_db *` may run concurrently on the same handle.
 * kg_close must not run concurrently with any other use of that handle.
 */
#ifndef KEYGLIDE_H
#define KEYGLIDE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KG_BUILDING_LIBRARY) && defined(__GNUC__)
#define KG_API __attribute__((visibility("default")))
#else
#define KG_API
#endif

/* ---------------------------------------------------------------------------------------
 * Version
 *
 * The version of the C library, semantic versioning of this interface (API and ABI). It is
 * the library's own, not the Python SDK's: it changes when the kernel does, by these rules.
 *   MAJOR  changes when a function, type or constant is removed or changes meaning or
 *          layout: code built against another MAJOR may not link or run correctly.
 *   MINOR  changes when something is added (functions, status codes, constants); code
 *          built against an older MINOR of the same MAJOR keeps working unchanged.
 *   PATCH  changes for fixes only (the kernel's behaviour); the interface is identical.
 * While MAJOR is 0 the interface is not yet frozen and a MINOR change may break it. The
 * version never goes backwards. Up to 1.5.1 it was the SDK's version; "since 1.x" below
 * names the library version that added something.
 * ------------------------------------------------------------------------------------- */
#define KG_VERSION_MAJOR 1
#define KG_VERSION_MINOR 6
#define KG_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH: compare with kg_version_number() to detect a
 * header/library mismatch at run time. */
#define KG_VERSION_NUMBER (KG_VERSION_MAJOR * 10000 + KG_VERSION_MINOR * 100 + KG_VERSION_PATCH)

/* The most suggestions kg_predict returns in one call. */
#define KG_MAX_K 256
/* The most ids kg_context_ids returns in one list (since 1.4). */
#define KG_MAX_CONTEXT 65536
/* The longest word (folded UTF-8 bytes) a langdb can hold; a longer token is unknown and a
 * longer prefix completes to nothing. Part of the tokenization contract. */
#define KG_MAX_WORD_BYTES 64

/* Keyboard layouts and the typing decoder (kg_suggest). Positions are rounded to
 * 1/KG_LAYOUT_GRID of a layout unit; a layout has at most KG_MAX_KEYS keys of at most
 * KG_MAX_KEY_CHARS characters each (alternates included). */
#define KG_LAYOUT_GRID 256
#define KG_MAX_KEYS 128
#define KG_MAX_KEY_CHARS 16
/* The keystrokes the decoder aligns with edits: a longer word is matched exactly. */
#define KG_MAX_DECODE 32
/* The confidence (score units) from which a space auto-corrects, unless the caller passes
 * another threshold to kg_suggest. */
#define KG_DEFAULT_THRESHOLD 10000

/* Special word ids, present in every langdb. */
#define KG_WORD_UNK 0u /* "<unk>", any word not in the vocabulary */
#define KG_WORD_BOS 1u /* "<s>", start of sentence */
#define KG_WORD_EOS 2u /* "</s>", end of sentence */

/*
 * kg_version_number: KG_VERSION_NUMBER of the library actually linked.
 */
KG_API unsigned kg_version_number(void);

/*
 * kg_version_string: the library's version as "MAJOR.MINOR.PATCH" (static storage).
 */
KG_API const char *kg_version_string(void);

/* ---------------------------------------------------------------------------------------
 * Status codes
 *
 * The numbers are stable: a code is never renumbered or reused. New codes may be added in
 * a MINOR version, so treat an unknown nonzero code as a generic failure.
 * ------------------------------------------------------------------------------------- */
typedef enum kg_status {
    KG_OK = 0,                    /* success */
    KG_E_INVALID_ARGUMENT = 1,    /* a NULL pointer, k > KG_MAX_K, an id out of range ... */
    KG_E_IO = 2,                  /* the file cannot be opened, sized or mapped */
    KG_E_CORRUPT = 3,             /* not a valid langdb (bad magic, header, section, data) */
    KG_E_TRUNCATED = 4,           /* the file is shorter than its header says */
    KG_E_CHECKSUM = 5,            /* a CRC-32 does not match */
    KG_E_UNSUPPORTED_VERSION = 6, /* another major version, or an unknown required feature */
    KG_E_BUFFER_TOO_SMALL = 7,    /* a caller's output buffer cannot hold the result */
    KG_E_NO_MEMORY = 8,           /* an allocation failed (kg_open_* only) */
    KG_E_NOT_FOUND = 9            /* the word is not in the vocabulary (kg_lookup) */
} kg_status;

/*
 * kg_status_message: a short English description of a status (static storage). Never
 * NULL; an unknown code gives "unknown status".
 */
KG_API const char *kg_status_message(kg_status status);

/* ---------------------------------------------------------------------------------------
 * Opening a langdb
 * ------------------------------------------------------------------------------------- */

/* An open langdb. Opaque; immutable once open. */
typedef struct kg_db kg_db;

/*
 * kg_open_buffer: open a langdb held in memory.
 *
 * `data` must stay valid and unchanged until kg_close: the handle reads it in place. Any
 * alignment is accepted. Opening checks the structure in O(1) of the size (FORMAT.md
 * section 8: magic, byte-order mark, version, feature bits, header CRC, size, the section
 * table, the required sections and their entry counts, the codebook lengths and the META
 * section's CRC and JSON); section data is checked by kg_verify. Whatever the bytes, no
 * function ever reads outside [data, data + size): damaged data gives KG_E_CORRUPT.
 *
 * Returns KG_OK and *out, or KG_E_CORRUPT, KG_E_TRUNCATED, KG_E_CHECKSUM,
 * KG_E_UNSUPPORTED_VERSION, KG_E_NO_MEMORY, KG_E_INVALID_ARGUMENT (NULL pointer).
 */
KG_API kg_status kg_open_buffer(const void *data, size_t size, kg_db **out);

/*
 * kg_open_path: open a langdb file by memory-mapping it read-only.
 *
 * The same checks as kg_open_buffer. The mapping lives until kg_close; the file must not
 * be truncated or rewritten in place meanwhile (writers replace files by renaming, which
 * is safe). Returns the statuses of kg_open_buffer, and KG_E_IO when the file cannot be
 * opened, is not a regular file, or cannot be mapped.
 */
KG_API kg_status kg_open_path(const char *path, kg_db **out);

/*
 * kg_close: release a handle (and unmap its file). NULL is allowed and does nothing.
 */
KG_API void kg_close(kg_db *db);

/*
 * kg_verify: check the whole file, in O(size): every section's CRC-32, zero padding and
 * reserved fields, and every invariant of FORMAT.md (sorted vocabulary of folded words,
 * ids and indices in range, monotonic CHILDREN, sorted children, non-decreasing codebooks
 * within +-429496729 (so that a score always fits in 32 bits), exact top lists, metadata consistent with the sections, the blocklist and the display
 * forms of formats 1.1 and 1.2).
 *
 * The checks run in the order of the Python reader's verify(): reserved fields and
 * padding, then checksums, then the invariants. A file that passes gives exactly the
 * answers the format defines. One that fails may still be queried safely (never out of
 * bounds), but its answers are unspecified. Returns KG_OK, KG_E_CHECKSUM, KG_E_CORRUPT,
 * KG_E_INVALID_ARGUMENT (NULL) or KG_E_NO_MEMORY (a small sort buffer).
 */
KG_API kg_status kg_verify(const kg_db *db);

/* ---------------------------------------------------------------------------------------
 * Properties of an open langdb
 * ------------------------------------------------------------------------------------- */

/*
 * kg_order: the model order N (2 to 5): predictions use up to N-1 words of context.
 */
KG_API unsigned kg_order(const kg_db *db);

/*
 * kg_vocab_size: V, the number of word ids (including the three special ids).
 */
KG_API uint32_t kg_vocab_size(const kg_db *db);

/*
 * kg_ngram_count: the number of n-grams of order n (1 to kg_order), 0 for other n.
 */
KG_API uint64_t kg_ngram_count(const kg_db *db, unsigned n);

/*
 * kg_format_version: the file's format version (major, minor). Either pointer may be NULL.
 */
KG_API void kg_format_version(const kg_db *db, unsigned *major, unsigned *minor);

/*
 * kg_required_features: the file's required feature bits (all known to this library, or
 * the file would not have opened).
 */
KG_API uint64_t kg_required_features(const kg_db *db);

/*
 * kg_optional_features: the file's optional feature bits.
 */
KG_API uint64_t kg_optional_features(const kg_db *db);

/*
 * kg_ignored_features: the optional feature bits this library ignores: those it does not
 * know, and NEURAL (format 1.3), whose sections it validates but whose ONNX graph it never
 * runs (the Python SDK runs it with onnxruntime; a C embedder may run it with its own ONNX
 * runtime, as langdb/FORMAT.md section 11 defines). Nonzero means the answers are those of
 * a reader that ignores these features (format 1.1: BLOCKLIST and 1.2: DISPLAY_FORMS are
 * applied).
 */
KG_API uint64_t kg_ignored_features(const kg_db *db);

/*
 * kg_metadata: the META section, a UTF-8 JSON object (FORMAT.md section 7). *json points
 * into the file (valid until kg_close) and is not NUL-terminated.
 * Returns KG_OK or KG_E_INVALID_ARGUMENT.
 */
KG_API kg_status kg_metadata(const kg_db *db, const char **json, size_t *len);

/* ---------------------------------------------------------------------------------------
 * Words
 * ------------------------------------------------------------------------------------- */

/*
 * kg_word: the spelling of word `id` (folded UTF-8, or "<unk>", "<s>", "</s>" for the
 * special ids). *utf8 points into the file (valid until kg_close), not NUL-terminated.
 * Returns KG_OK, KG_E_INVALID_ARGUMENT (id >= kg_vocab_size) or KG_E_CORRUPT.
 */
KG_API kg_status kg_word(const kg_db *db, uint32_t id, const char **utf8, size_t *len);

/*
 * kg_display (since 1.2): the spelling to show for word `id` in a suggestion: its display
 * form if the file has one for it (format 1.2, FORMAT.md section 10: "London" for the word
 * "london", "I" for "i"; a display form differs from the word only in letter case and
 * joiner spelling, and folds to it), else exactly what kg_word gives. Words are stored
 * folded, which is the spelling for kg_lookup and the wrong one to show: spell suggestions
 * with kg_display, and use kg_word where the folded word is needed. *utf8 points into the
 * file (valid until kg_close), not NUL-terminated. On a damaged file that kg_verify would
 * refuse, the spelling may be wrong, but no byte outside the file is read.
 * Returns KG_OK, KG_E_INVALID_ARGUMENT (a NULL pointer, id >= kg_vocab_size) or
 * KG_E_CORRUPT.
 */
KG_API kg_status kg_display(const kg_db *db, uint32_t id, const char **utf8, size_t *len);

/*
 * kg_lookup: the id of a folded word (exact bytes, as kg_word gives them; fold text with
 * kg_tokenize first). Special spellings are not looked up.
 * Returns KG_OK and *id, KG_E_NOT_FOUND, KG_E_INVALID_ARGUMENT or KG_E_CORRUPT.
 */
KG_API kg_status kg_lookup(const kg_db *db, const char *utf8, size_t len, uint32_t *id);

/* ---------------------------------------------------------------------------------------
 * Prediction and scoring
 * ------------------------------------------------------------------------------------- */

/* One suggestion: a word id (spell it with kg_word, or kg_display to show it) and its
 * score. */
typedef struct kg_suggestion {
    uint32_t word_id;
    int32_t score; /* fixed-point log10 probability (saturated to the int32 range) */
} kg_suggestion;

/*
 * kg_predict: suggest the k most likely words at the end of `text` (the text before the
 * cursor, text_len bytes of UTF-8).
 *
 * If the text ends inside a word (optionally followed by one joiner such as ' or -), that
 * word is the prefix being typed and only words starting with it are suggested
 * (completion); otherwise the next word is predicted. The context is the current sentence
 * (FORMAT.md sections 5 and 6). Suggestions are ordered by score descending, then id
 * ascending, and never include the special ids. Fewer than k are returned when fewer
 * words qualify (none when a prefix matches nothing).
 *
 * `out` must hold k entries; *n_out receives the number written. k == 0 is allowed.
 * No allocation. Only the end of the text is read (since 1.4: the last few tokens, so a long
 * text costs what a short one does), plus the search, which is fast for next-word
 * prediction.
 * Returns KG_OK, KG_E_INVALID_ARGUMENT (NULL pointer, k > KG_MAX_K) or KG_E_CORRUPT.
 */
KG_API kg_status kg_predict(const kg_db *db, const char *text, size_t text_len, size_t k,
                            kg_suggestion *out, size_t *n_out);

/*
 * kg_context_ids (since 1.4): the words before the cursor as ids, for a reranker that reads
 * more of them than the n-gram model does (FORMAT.md section 11). `text` is read as
 * kg_predict reads it:
 *   history[0..*history_n)    the ids of the last history_cap tokens before the word being
 *                             typed, from any sentence, oldest first;
 *   sentence[0..*sentence_n)  the ids of the last sentence_cap of them that belong to the
 *                             current sentence, oldest first ("<s>" is not included: fewer
 *                             than sentence_cap ids means the sentence starts there);
 *   *typed                    the length in code points of the folded word being typed
 *                             (with its trailing joiner), 0 when the next word is predicted,
 *                             KG_MAX_WORD_BYTES + 1 for a word longer than any can be.
 * Words not in the vocabulary, and tokens longer than any word, are KG_WORD_UNK. Only the
 * end of the text is read: the time grows with the caps, not with text_len. No allocation.
 * Returns KG_OK, KG_E_INVALID_ARGUMENT (a NULL pointer with a nonzero cap or length, a cap
 * above KG_MAX_CONTEXT) or KG_E_CORRUPT.
 */
KG_API kg_status kg_context_ids(const kg_db *db, const char *text, size_t text_len,
                                uint32_t *history, size_t history_cap, size_t *history_n,
                                uint32_t *sentence, size_t sentence_cap, size_t *sentence_n,
                                size_t *typed);

/*
 * kg_score_text: the log-probability of a whole text, as a fixed-point sum.
 *
 * The text is split into sentences (FORMAT.md section 6); every token is scored after its
 * sentence's preceding words, unknown words as "<unk>", and every sentence's end as "</s>"
 * (FORMAT.md section 5). *score_sum receives the sum of the scores (divide by 10000 for a
 * log10 probability; saturated to the int64 range) and *token_count the number of scored
 * tokens, one "</s>" per sentence included. Perplexity is 10^(-sum / 10000 / count).
 * Returns KG_OK, KG_E_INVALID_ARGUMENT or KG_E_CORRUPT.
 */
KG_API kg_status kg_score_text(const kg_db *db, const char *text, size_t len,
                               int64_t *score_sum, uint64_t *token_count);

/*
 * kg_score_word: score(word | context) of FORMAT.md section 5 for explicit ids. `context`
 * holds n word ids, oldest first (NULL allowed when n == 0); only the last N-1 are used.
 * The caller adds "<s>" (KG_WORD_BOS) at a sentence start.
 * Returns KG_OK, KG_E_INVALID_ARGUMENT (an id >= kg_vocab_size) or KG_E_CORRUPT.
 */
KG_API kg_status kg_score_word(const kg_db *db, const uint32_t *context, size_t n,
                               uint32_t word, int64_t *score);

/* ---------------------------------------------------------------------------------------
 * Tokenization (contract keyglide-text-1)
 * ------------------------------------------------------------------------------------- */

/* Modes of kg_tokenize. */
#define KG_TOKENIZE_SENTENCES 0 /* the sentences a text is scored as */
#define KG_TOKENIZE_CURSOR 1    /* the context and the word being typed */

/*
 * kg_tokenize: the tokenization contract's view of `text`, written as UTF-8 to `out`.
 *
 * No langdb is needed: this is how every function above reads text, exposed so that
 * callers and ports can check their text handling. Tokens are written folded; a token
 * whose folded form exceeds KG_MAX_WORD_BYTES is written as "<unk>" (it never matches a
 * word). Folded tokens never contain spaces, line feeds or '<', so the output is
 * unambiguous:
 *
 *   KG_TOKENIZE_SENTENCES: each sentence as its tokens separated by ' ', ended by '\n'.
 *   KG_TOKENIZE_CURSOR: the context tokens (the current sentence before the word being
 *     typed) separated by ' ', then '\n', then the folded prefix if the text ends inside a
 *     word (nothing otherwise; "<unk>" if longer than KG_MAX_WORD_BYTES).
 *
 * *written receives the output length. If it exceeds `cap`, nothing useful is in `out`,
 * *written is the size needed and KG_E_BUFFER_TOO_SMALL is returned (out may be NULL when
 * cap is 0, to ask for the size). Returns KG_OK, KG_E_BUFFER_TOO_SMALL or
 * KG_E_INVALID_ARGUMENT.
 */
KG_API kg_status kg_tokenize(const char *text, size_t len, int mode, char *out, size_t cap,
                             size_t *written);

/* ---------------------------------------------------------------------------------------
 * Typing: keyboard layouts and the typing decoder (model keyglide-typing-1), since 1.6
 *
 * While a word is being typed, kg_suggest weighs every word w by how likely it is in its
 * context and how likely the keystrokes are if the user meant w:
 *     score(w) = lm(w | context) - penalty(keystrokes | w)
 * where the penalty is the cheapest alignment of the keystrokes with a prefix of w: touches
 * scored by a Gaussian around the intended key, neighbouring keys as substitutions,
 * omitted, inserted, doubled and swapped letters, accents and apostrophes (FORMAT.md
 * section 12; sdk/keyglide/decoder.py is the definition). It answers the suggestion strip,
 * the best whole-word correction and whether a space should apply it.
 * ------------------------------------------------------------------------------------- */

/* One key of a layout, for kg_layout_init. `chars` holds chars_len bytes of UTF-8: the
 * folded character the key types, then the alternates a long press offers (accented
 * letters: typing the key's own character for one of them is an accent, not a typo).
 * x, y are the key's centre and width, height its size, in any one coordinate system (the
 * shipped layouts use key widths, y down); touch points are given in the same system. */
typedef struct kg_key_spec {
    const char *chars;
    size_t chars_len;
    double x, y, width, height;
} kg_key_spec;

/* A keyboard layout: keys on the grid and which key types each character. Allocated by
 * the caller (any storage: it holds no pointer), filled by kg_layout_init or
 * kg_layout_builtin, then read-only: one layout may serve any number of threads and
 * calls. Its fields are private. */
typedef struct kg_layout {
    uint32_t private_keys;                                   /* number of keys */
    uint32_t private_chars;                                  /* number of characters */
    int32_t private_grid[4 * KG_MAX_KEYS];                   /* x, y, width, height */
    uint32_t private_char[KG_MAX_KEYS * KG_MAX_KEY_CHARS];   /* code point << 8 | key */
    unsigned char private_ascii[128];                        /* key + 1, or 0 */
} kg_layout;

/* A touch point in the layout's coordinates; present == 0: none for this character (it
 * counts as typed at its key's centre). */
typedef struct kg_touch {
    double x, y;
    int present;
} kg_touch;

/* What kg_suggest found besides the strip. Every field is 0 unless stated otherwise. */
typedef struct kg_correction {
    int typing;          /* 1: the text ends inside a word, which was decoded; 0: the next
                          * word was predicted (kg_predict) and the fields below are 0 */
    size_t typed_length; /* the word being typed, in code points (a trailing joiner
                          * included): the last typed_length code points of the text */
    int has_correction;  /* 1: word_id, score and confidence are set */
    uint32_t word_id;    /* the best whole word to replace the typed word with */
    int64_t score;       /* its score, lm - penalty */
    int64_t confidence;  /* score minus the typed word's own: its lm score (for a word the
                          * vocabulary lacks, <unk>'s minus the decoder's UNKNOWN) minus
                          * what its touches cost on the keys typed */
    int autocorrect;     /* 1: confidence >= threshold: a space should replace the typed
                          * word with the correction */
} kg_correction;

/*
 * kg_layout_init: a layout from n keys (see kg_key_spec).
 *
 * The keys are checked as keyglide.Layout checks them: 1 to KG_MAX_KEYS keys; each with 1
 * to KG_MAX_KEY_CHARS characters of strict UTF-8, every one already folded (the fold of
 * the tokenization contract: lowercase, ' not U+2019), not a space (the contract's list)
 * and not NUL; no character on two keys (or twice on one); x and y finite within +-4096;
 * width and height from 1/KG_LAYOUT_GRID to 64. Positions and sizes are then rounded to
 * the grid: floor(v * KG_LAYOUT_GRID + 0.5), as in Python.
 * Returns KG_OK and *out, or KG_E_INVALID_ARGUMENT (a NULL pointer, any check failed).
 */
KG_API kg_status kg_layout_init(kg_layout *out, const kg_key_spec *keys, size_t n);

/*
 * kg_layout_builtin: one of the shipped layouts, "qwerty" (en-US), "azerty" (fr-FR) or
 * "qwertz" (de-DE), as keyglide.Layout.named reads them.
 * Returns KG_OK and *out, or KG_E_INVALID_ARGUMENT (NULL, or another name).
 */
KG_API kg_status kg_layout_builtin(kg_layout *out, const char *name);

/*
 * kg_suggest: what a keyboard shows after a keystroke: the suggestion strip and what a
 * space would do, for the text before the cursor (text_len bytes of UTF-8).
 *
 * If the text does not end inside a word, this is kg_predict (the next word): the same
 * suggestions, correction->typing == 0, and touches are not read. Otherwise the word being
 * typed (folded, as kg_predict's prefix) is decoded on `layout`:
 *   out[0..*n_out)  the k best words by score(w), score descending then id ascending
 *                   (completions and corrections; never the special ids or blocked
 *                   words); a word's score is its lm score minus the least penalty of any
 *                   of its prefixes that the keystrokes can spell (saturated to int32).
 *                   When a space would auto-correct, the correction is always shown: if
 *                   missing, it takes the last place (or the next free one) at its score.
 *   *correction     the best whole word other than the typed word itself, by
 *                   lm - penalty (same order), its confidence, and whether that reaches
 *                   `threshold` (KG_DEFAULT_THRESHOLD is the SDK's default).
 * `touches` holds one touch point per code point of the word being typed (correction's
 * typed_length), or is NULL (then n_touches must be 0): every character counts as typed
 * at its key's centre. A character the layout lacks is matched only exactly. A word of
 * more than KG_MAX_DECODE characters is matched exactly, at no penalty; one longer than
 * KG_MAX_WORD_BYTES (folded) matches nothing: no suggestions, no correction.
 *
 * `out` must hold k entries. No allocation (about 52 KB of stack); the work is bounded
 * by the edit budget (at most 2 edits), not by the vocabulary's size.
 * Returns KG_OK, KG_E_INVALID_ARGUMENT (a NULL pointer, k > KG_MAX_K, n_touches not the
 * typed word's length, a touch coordinate not finite or beyond +-4096, a layout not made
 * by kg_layout_init) or KG_E_CORRUPT.
 */
KG_API kg_status kg_suggest(const kg_db *db, const char *text, size_t text_len,
                            const kg_touch *touches, size_t n_touches, const kg_layout *layout,
                            int64_t threshold, size_t k, kg_suggestion *out, size_t *n_out,
                            kg_correction *correction);

#ifdef __cplusplus
}
#endif

#endif /* KEYGLIDE_H */
