/* The typing decoder's constants (keyglide-typing-1) and the shipped layouts, for decode.c.
 * Generated from sdk/keyglide/decoder.py, sdk/keyglide/keyboard.py and
 * sdk/keyglide/layouts/ by native/tools/gen_sdk_headers.py; do not edit. */
#ifndef KG_TYPING_TABLES_H
#define KG_TYPING_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "keyglide.h"

/* Penalties, in score units (decoder.py). */
/* a touch one key width (or height) from its key's centre */
#define KG_TYPING_SPATIAL_WEIGHT 20000
/* the most a touch costs */
#define KG_TYPING_SPATIAL_CAP 200000
/* the most spatial cost a substitution may have */
#define KG_TYPING_SUBSTITUTION_LIMIT 30000
/* the key's own character typed for an alternate */
#define KG_TYPING_ACCENT 5000
/* a character of the word omitted (one edit) */
#define KG_TYPING_OMIT 30000
/* a keystroke the word does not have (one edit) */
#define KG_TYPING_INSERT 30000
/* an omitted or inserted repetition (one edit) */
#define KG_TYPING_DOUBLE 15000
/* two adjacent characters swapped (one edit), plus their touches */
#define KG_TYPING_TRANSPOSE 25000
/* an apostrophe or hyphen omitted (no edit) */
#define KG_TYPING_JOINER 2000
/* how far below lm(<unk>) a typed word the vocabulary lacks scores */
#define KG_TYPING_UNKNOWN 45000

/* The keystrokes aligned with edits; a longer word is matched exactly, at no penalty. */
#define KG_TYPING_MAX_DECODE 32
/* The most edits any alignment may use: the largest of max_edits(m). */
#define KG_TYPING_MAX_EDITS 2
/* Above every alignment's penalty (what decode.c's int32 cells hold). */
#define KG_TYPING_PENALTY_BOUND 7538000

/* max_edits(m): how many edits an alignment of m keystrokes may use. */
static const unsigned char max_edits[KG_TYPING_MAX_DECODE + 1] = {
    0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2,
};

/* Layouts (keyboard.py): the grid, and the bounds of keys and coordinates. */
#define KG_TYPING_GRID 256
#define KG_TYPING_MAX_KEYS 128
#define KG_TYPING_MAX_KEY_CHARS 16
#define KG_TYPING_MAX_COORDINATE 4096.0
#define KG_TYPING_MAX_KEY_SIZE 64.0

/* The folded joiners, whose omission costs JOINER and no edit, ascending. */
static const uint32_t typing_joiners[] = {0x27, 0x2D};

/* Whether a folded character is a joiner (one of typing_joiners). */
static int typing_joiner(uint32_t cp)
{
    switch (cp) {
    case 0x0027: case 0x002D:
        return 1;
    default:
        return 0;
    }
}

/* Whether a code point is one of the contract's SPACES (a layout refuses it). */
static int layout_space(uint32_t cp)
{
    switch (cp) {
    case 0x0009: case 0x000A: case 0x000B: case 0x000C: case 0x000D: case 0x0020: case 0x0085:
    case 0x00A0: case 0x1680: case 0x2000: case 0x2001: case 0x2002: case 0x2003: case 0x2004:
    case 0x2005: case 0x2006: case 0x2007: case 0x2008: case 0x2009: case 0x200A: case 0x2028:
    case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return 0;
    }
}

/* The shipped layouts (keyglide/layouts/NAME.json): each key's characters (its own, then
 * its alternates, UTF-8), centre and size, as kg_layout_init takes them. */
static const kg_key_spec layout_qwerty[] = {
    {"q", 1, 0.5, 0.75, 1.0, 1.5},
    {"w", 1, 1.5, 0.75, 1.0, 1.5},
    {"e\303\251\303\250\303\252\303\253\304\223\304\227\304\231", 15, 2.5, 0.75, 1.0, 1.5},
    {"r", 1, 3.5, 0.75, 1.0, 1.5},
    {"t", 1, 4.5, 0.75, 1.0, 1.5},
    {"y\303\277", 3, 5.5, 0.75, 1.0, 1.5},
    {"u\303\273\303\274\303\271\303\272\305\253", 11, 6.5, 0.75, 1.0, 1.5},
    {"i\303\256\303\257\303\255\304\253\303\254\304\257", 13, 7.5, 0.75, 1.0, 1.5},
    {"o\303\263\303\264\303\266\303\262\305\223\303\270\303\265\305\215", 17,
     8.5, 0.75, 1.0, 1.5},
    {"p", 1, 9.5, 0.75, 1.0, 1.5},
    {"a\303\240\303\241\303\242\303\244\303\246\303\243\303\245\304\201", 17,
     1.0, 2.25, 1.0, 1.5},
    {"s\303\237\305\233\305\241", 7, 2.0, 2.25, 1.0, 1.5},
    {"d", 1, 3.0, 2.25, 1.0, 1.5},
    {"f", 1, 4.0, 2.25, 1.0, 1.5},
    {"g", 1, 5.0, 2.25, 1.0, 1.5},
    {"h", 1, 6.0, 2.25, 1.0, 1.5},
    {"j", 1, 7.0, 2.25, 1.0, 1.5},
    {"k", 1, 8.0, 2.25, 1.0, 1.5},
    {"l", 1, 9.0, 2.25, 1.0, 1.5},
    {"z\305\276\305\272\305\274", 7, 2.0, 3.75, 1.0, 1.5},
    {"x", 1, 3.0, 3.75, 1.0, 1.5},
    {"c\303\247\304\207\304\215", 7, 4.0, 3.75, 1.0, 1.5},
    {"v", 1, 5.0, 3.75, 1.0, 1.5},
    {"b", 1, 6.0, 3.75, 1.0, 1.5},
    {"n\303\261\305\204", 5, 7.0, 3.75, 1.0, 1.5},
    {"m", 1, 8.0, 3.75, 1.0, 1.5},
};
static const kg_key_spec layout_azerty[] = {
    {"a\303\240\303\241\303\242\303\244\303\246\303\243\303\245\304\201", 17,
     0.5, 0.75, 1.0, 1.5},
    {"z\305\276\305\272\305\274", 7, 1.5, 0.75, 1.0, 1.5},
    {"e\303\251\303\250\303\252\303\253\304\223\304\227\304\231", 15, 2.5, 0.75, 1.0, 1.5},
    {"r", 1, 3.5, 0.75, 1.0, 1.5},
    {"t", 1, 4.5, 0.75, 1.0, 1.5},
    {"y\303\277", 3, 5.5, 0.75, 1.0, 1.5},
    {"u\303\273\303\274\303\271\303\272\305\253", 11, 6.5, 0.75, 1.0, 1.5},
    {"i\303\256\303\257\303\255\304\253\303\254\304\257", 13, 7.5, 0.75, 1.0, 1.5},
    {"o\303\263\303\264\303\266\303\262\305\223\303\270\303\265\305\215", 17,
     8.5, 0.75, 1.0, 1.5},
    {"p", 1, 9.5, 0.75, 1.0, 1.5},
    {"q", 1, 0.5, 2.25, 1.0, 1.5},
    {"s\303\237\305\233\305\241", 7, 1.5, 2.25, 1.0, 1.5},
    {"d", 1, 2.5, 2.25, 1.0, 1.5},
    {"f", 1, 3.5, 2.25, 1.0, 1.5},
    {"g", 1, 4.5, 2.25, 1.0, 1.5},
    {"h", 1, 5.5, 2.25, 1.0, 1.5},
    {"j", 1, 6.5, 2.25, 1.0, 1.5},
    {"k", 1, 7.5, 2.25, 1.0, 1.5},
    {"l", 1, 8.5, 2.25, 1.0, 1.5},
    {"m", 1, 9.5, 2.25, 1.0, 1.5},
    {"w", 1, 2.0, 3.75, 1.0, 1.5},
    {"x", 1, 3.0, 3.75, 1.0, 1.5},
    {"c\303\247\304\207\304\215", 7, 4.0, 3.75, 1.0, 1.5},
    {"v", 1, 5.0, 3.75, 1.0, 1.5},
    {"b", 1, 6.0, 3.75, 1.0, 1.5},
    {"n\303\261\305\204", 5, 7.0, 3.75, 1.0, 1.5},
    {"'", 1, 8.0, 3.75, 1.0, 1.5},
};
static const kg_key_spec layout_qwertz[] = {
    {"q", 1, 0.5, 0.75, 1.0, 1.5},
    {"w", 1, 1.5, 0.75, 1.0, 1.5},
    {"e\303\251\303\250\303\252\303\253\304\223\304\227\304\231", 15, 2.5, 0.75, 1.0, 1.5},
    {"r", 1, 3.5, 0.75, 1.0, 1.5},
    {"t", 1, 4.5, 0.75, 1.0, 1.5},
    {"z\305\276\305\272\305\274", 7, 5.5, 0.75, 1.0, 1.5},
    {"u\303\273\303\271\303\272\305\253", 9, 6.5, 0.75, 1.0, 1.5},
    {"i\303\256\303\257\303\255\304\253\303\254\304\257", 13, 7.5, 0.75, 1.0, 1.5},
    {"o\303\263\303\264\303\262\305\223\303\270\303\265\305\215", 15, 8.5, 0.75, 1.0, 1.5},
    {"p", 1, 9.5, 0.75, 1.0, 1.5},
    {"\303\274", 2, 10.5, 0.75, 1.0, 1.5},
    {"a\303\240\303\241\303\242\303\246\303\243\303\245\304\201", 15, 0.5, 2.25, 1.0, 1.5},
    {"s\303\237\305\233\305\241", 7, 1.5, 2.25, 1.0, 1.5},
    {"d", 1, 2.5, 2.25, 1.0, 1.5},
    {"f", 1, 3.5, 2.25, 1.0, 1.5},
    {"g", 1, 4.5, 2.25, 1.0, 1.5},
    {"h", 1, 5.5, 2.25, 1.0, 1.5},
    {"j", 1, 6.5, 2.25, 1.0, 1.5},
    {"k", 1, 7.5, 2.25, 1.0, 1.5},
    {"l", 1, 8.5, 2.25, 1.0, 1.5},
    {"\303\266", 2, 9.5, 2.25, 1.0, 1.5},
    {"\303\244", 2, 10.5, 2.25, 1.0, 1.5},
    {"y\303\277", 3, 2.5, 3.75, 1.0, 1.5},
    {"x", 1, 3.5, 3.75, 1.0, 1.5},
    {"c\303\247\304\207\304\215", 7, 4.5, 3.75, 1.0, 1.5},
    {"v", 1, 5.5, 3.75, 1.0, 1.5},
    {"b", 1, 6.5, 3.75, 1.0, 1.5},
    {"n\303\261\305\204", 5, 7.5, 3.75, 1.0, 1.5},
    {"m", 1, 8.5, 3.75, 1.0, 1.5},
};

static const struct builtin_layout {
    const char *name;
    const kg_key_spec *keys;
    size_t count;
} builtin_layouts[] = {
    {"qwerty", layout_qwerty, 26},
    {"azerty", layout_azerty, 27},
    {"qwertz", layout_qwertz, 29},
};

#endif
