/* The character lists of the tokenization contract keyglide-text-1, for text.c.
 * Generated from sdk/keyglide/text.py by native/tools/gen_sdk_headers.py; do not edit. */
#ifndef KG_TEXT_TABLES_H
#define KG_TEXT_TABLES_H

#include <stdint.h>

/* Character classes of the contract. */
#define C_WORD 1u    /* a word character (general category L, M or N) */
#define C_SPACE 2u   /* SPACES (White_Space) */
#define C_BREAK 4u   /* LINE_BREAKS (also spaces) */
#define C_TERM 8u    /* TERMINATORS */
#define C_DOT 16u    /* PERIOD, the one terminator an abbreviation may be followed by */
#define C_JOINER 32u /* JOINERS */
#define C_MARK 64u   /* category M: continues a token, never starts one (with C_WORD) */
#define C_STARTS(c) (((c) & (C_WORD | C_MARK)) == C_WORD)

/* Classes of the ASCII code points, the common case. */
static const unsigned char ascii_class[128] = {
    ['\t'] = C_SPACE, ['\n'] = C_SPACE | C_BREAK, [0x0B] = C_SPACE, [0x0C] = C_SPACE,
    ['\r'] = C_SPACE, [' '] = C_SPACE, ['!'] = C_TERM, ['\''] = C_JOINER, ['-'] = C_JOINER,
    ['.'] = C_TERM | C_DOT, ['0'] = C_WORD, ['1'] = C_WORD, ['2'] = C_WORD, ['3'] = C_WORD,
    ['4'] = C_WORD, ['5'] = C_WORD, ['6'] = C_WORD, ['7'] = C_WORD, ['8'] = C_WORD,
    ['9'] = C_WORD, ['?'] = C_TERM, ['A'] = C_WORD, ['B'] = C_WORD, ['C'] = C_WORD,
    ['D'] = C_WORD, ['E'] = C_WORD, ['F'] = C_WORD, ['G'] = C_WORD, ['H'] = C_WORD,
    ['I'] = C_WORD, ['J'] = C_WORD, ['K'] = C_WORD, ['L'] = C_WORD, ['M'] = C_WORD,
    ['N'] = C_WORD, ['O'] = C_WORD, ['P'] = C_WORD, ['Q'] = C_WORD, ['R'] = C_WORD,
    ['S'] = C_WORD, ['T'] = C_WORD, ['U'] = C_WORD, ['V'] = C_WORD, ['W'] = C_WORD,
    ['X'] = C_WORD, ['Y'] = C_WORD, ['Z'] = C_WORD, ['a'] = C_WORD, ['b'] = C_WORD,
    ['c'] = C_WORD, ['d'] = C_WORD, ['e'] = C_WORD, ['f'] = C_WORD, ['g'] = C_WORD,
    ['h'] = C_WORD, ['i'] = C_WORD, ['j'] = C_WORD, ['k'] = C_WORD, ['l'] = C_WORD,
    ['m'] = C_WORD, ['n'] = C_WORD, ['o'] = C_WORD, ['p'] = C_WORD, ['q'] = C_WORD,
    ['r'] = C_WORD, ['s'] = C_WORD, ['t'] = C_WORD, ['u'] = C_WORD, ['v'] = C_WORD,
    ['w'] = C_WORD, ['x'] = C_WORD, ['y'] = C_WORD, ['z'] = C_WORD,
};

/* The class of a code point beyond ASCII that the lists hold, or 0. */
static unsigned listed_class(uint32_t cp)
{
    switch (cp) {
    case 0x0085: case 0x00A0: case 0x1680: case 0x2000: case 0x2001: case 0x2002: case 0x2003:
    case 0x2004: case 0x2005: case 0x2006: case 0x2007: case 0x2008: case 0x2009: case 0x200A:
    case 0x2028: case 0x202F: case 0x205F: case 0x3000:
        return C_SPACE;
    case 0x061F: case 0x0964: case 0x0965: case 0x2026: case 0x203C: case 0x203D: case 0x2047:
    case 0x2048: case 0x2049: case 0x3002: case 0xFF01: case 0xFF0E: case 0xFF1F:
        return C_TERM;
    case 0x2010: case 0x2011: case 0x2019:
        return C_JOINER;
    case 0x2029:
        return C_SPACE | C_BREAK;
    default:
        return 0;
    }
}

/* The fold of a joiner beyond ASCII (JOINER_FOLDS), or 0 for any other code point. */
static uint32_t joiner_fold(uint32_t cp)
{
    switch (cp) {
    case 0x2019:
        return 0x27;
    case 0x2010: case 0x2011:
        return 0x2D;
    default:
        return 0;
    }
}

/* ABBREVIATIONS, each packed into an integer (byte i at bits 8i), so that the test is a
 * few integer comparisons and costs nothing per token. None is longer than
 * KG_ABBREVIATION_MAX_BYTES. */
#define KG_ABBREVIATION_MAX_BYTES 6
static const uint64_t abbreviations[] = {
    UINT64_C(0x74706163), /* capt */
    UINT64_C(0x6C6F63), /* col */
    UINT64_C(0x7264), /* dr */
    UINT64_C(0x6E6567), /* gen */
    UINT64_C(0x6E6F68), /* hon */
    UINT64_C(0x726A), /* jr */
    UINT64_C(0x746C), /* lt */
    UINT64_C(0x73727373656D), /* messrs */
    UINT64_C(0x656C6C6D), /* mlle */
    UINT64_C(0x656D6D), /* mme */
    UINT64_C(0x726D), /* mr */
    UINT64_C(0x73726D), /* mrs */
    UINT64_C(0x736D), /* ms */
    UINT64_C(0x666F7270), /* prof */
    UINT64_C(0x766572), /* rev */
    UINT64_C(0x746773), /* sgt */
    UINT64_C(0x7273), /* sr */
    UINT64_C(0x7473), /* st */
    UINT64_C(0x7376), /* vs */
};

#endif
