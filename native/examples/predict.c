/* predict: suggest words with a langdb, as the command line interface does.
 *
 *   predict LANGDB [-k K] [-l LAYOUT] TEXT...
 *
 * The TEXT arguments are joined with single spaces (so `predict en.langdb -k 5 "the quick"`
 * and `predict en.langdb the quick` differ: the second ends inside the word "quick").
 * Prints one `word<TAB>score` line per suggestion, best first, each word as it is shown
 * (kg_display: its display form, "London" for "london", where the langdb has one).
 *
 * With -l LAYOUT (qwerty, azerty or qwertz) the word being typed is decoded as typed on that
 * keyboard (kg_suggest), typos included: `predict en.langdb -l qwerty "see you tmorow"`
 * suggests "tomorrow". A last line `=> word<TAB>score<TAB>confidence` then names the best
 * correction of the typed word, ending in `<TAB>autocorrect` when a space would apply it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyglide.h"

/* Prints word `id` as it is shown, then a tab. */
static kg_status show(const kg_db *db, uint32_t id)
{
    const char *w;
    size_t len;
    kg_status st = kg_display(db, id, &w, &len);
    if (st == KG_OK)
        printf("%.*s\t", (int)len, w);
    return st;
}

static int usage(void)
{
    fprintf(stderr, "usage: predict LANGDB [-k K] [-l LAYOUT] TEXT...\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path, *board = NULL;
    size_t k = 3, len = 0, n, i;
    kg_layout layout;
    kg_correction correction;
    char *text, *end;
    kg_suggestion out[KG_MAX_K];
    kg_db *db;
    kg_status st;
    int a, first_text;

    if (argc < 2)
        return usage();
    path = argv[1];
    a = 2;
    if (a < argc && strcmp(argv[a], "-k") == 0) {
        unsigned long v;
        if (a + 1 >= argc)
            return usage();
        v = strtoul(argv[a + 1], &end, 10);
        if (*argv[a + 1] == '\0' || *end != '\0' || v > KG_MAX_K) {
            fprintf(stderr, "predict: K must be an integer from 0 to %d\n", KG_MAX_K);
            return 2;
        }
        k = (size_t)v;
        a += 2;
    }
    if (a < argc && strcmp(argv[a], "-l") == 0) {
        if (a + 1 >= argc)
            return usage();
        board = argv[a + 1];
        if (kg_layout_builtin(&layout, board) != KG_OK) {
            fprintf(stderr, "predict: LAYOUT must be qwerty, azerty or qwertz\n");
            return 2;
        }
        a += 2;
    }
    first_text = a;
    for (; a < argc; a++)
        len += strlen(argv[a]) + 1;
    text = (char *)malloc(len + 1);
    if (!text)
        return 1;
    len = 0;
    for (a = first_text; a < argc; a++) {
        size_t l = strlen(argv[a]);
        if (a > first_text)
            text[len++] = ' ';
        memcpy(text + len, argv[a], l);
        len += l;
    }

    st = kg_open_path(path, &db);
    if (st != KG_OK) {
        fprintf(stderr, "predict: %s: %s\n", path, kg_status_message(st));
        free(text);
        return 1;
    }
    if (board) /* no touch points: each character counts as typed at its key's centre */
        st = kg_suggest(db, text, len, NULL, 0, &layout, KG_DEFAULT_THRESHOLD, k, out, &n,
                        &correction);
    else
        st = kg_predict(db, text, len, k, out, &n);
    for (i = 0; st == KG_OK && i < n; i++) {
        st = show(db, out[i].word_id);
        if (st == KG_OK)
            printf("%ld\n", (long)out[i].score);
    }
    if (st == KG_OK && board && correction.has_correction) {
        printf("=> ");
        st = show(db, correction.word_id);
        if (st == KG_OK)
            printf("%lld\t%lld%s\n", (long long)correction.score,
                   (long long)correction.confidence,
                   correction.autocorrect ? "\tautocorrect" : "");
    }
    if (st != KG_OK)
        fprintf(stderr, "predict: %s\n", kg_status_message(st));
    kg_close(db);
    free(text);
    return st == KG_OK ? 0 : 1;
}
