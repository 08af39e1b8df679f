/* predict: suggest words with a langdb, as the command line interface does.
 *
 *   predict LANGDB [-k K] TEXT...
 *
 * The TEXT arguments are joined with single spaces (so `predict en.langdb -k 5 "the quick"`
 * and `predict en.langdb the quick` differ: the second ends inside the word "quick").
 * Prints one `word<TAB>score` line per suggestion, best first, each word as it is shown
 * (kg_display: its display form, "London" for "london", where the langdb has one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyglide.h"

static int usage(void)
{
    fprintf(stderr, "usage: predict LANGDB [-k K] TEXT...\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path;
    size_t k = 3, len = 0, n, i;
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
    st = kg_predict(db, text, len, k, out, &n);
    for (i = 0; st == KG_OK && i < n; i++) {
        const char *w;
        size_t wl;
        st = kg_display(db, out[i].word_id, &w, &wl);
        if (st == KG_OK)
            printf("%.*s\t%ld\n", (int)wl, w, (long)out[i].score);
    }
    if (st != KG_OK)
        fprintf(stderr, "predict: %s\n", kg_status_message(st));
    kg_close(db);
    free(text);
    return st == KG_OK ? 0 : 1;
}
