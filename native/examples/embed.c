/* embed.c: check the library version, open a langdb from a path and from memory, predict,
 * print the suggestions, close. Usage: embed LANGDB TEXT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyglide.h"

/* Print up to 5 suggestions for `text`, one `word<TAB>score` line each, every word spelled
 * as it is shown (its display form, "London" for "london", where the langdb has one). */
static kg_status suggest(const kg_db *db, const char *text)
{
    kg_suggestion out[5];
    size_t n, i;
    kg_status st = kg_predict(db, text, strlen(text), 5, out, &n);
    for (i = 0; st == KG_OK && i < n; i++) {
        const char *word; /* points into the langdb: not NUL-terminated */
        size_t len;
        st = kg_display(db, out[i].word_id, &word, &len);
        if (st == KG_OK)
            printf("%.*s\t%ld\n", (int)len, word, (long)out[i].score);
    }
    return st;
}

/* The whole file in a malloc'ed block (a stand-in for an asset the platform hands you). */
static void *load(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    void *data = NULL;
    long end = 0;
    if (f && fseek(f, 0, SEEK_END) == 0 && (end = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0
        && (data = malloc(end ? (size_t)end : 1)) != NULL
        && fread(data, 1, (size_t)end, f) != (size_t)end) {
        free(data);
        data = NULL;
    }
    if (f)
        fclose(f);
    *size = data ? (size_t)end : 0;
    return data;
}

int main(int argc, char **argv)
{
    unsigned linked = kg_version_number();
    kg_db *db;
    kg_status st;
    void *data;
    size_t size;

    if (argc != 3) {
        fprintf(stderr, "usage: embed LANGDB TEXT\n");
        return 2;
    }
    /* The header compiled against and the library linked must agree: same MAJOR, and a
     * library at least as new as the header. */
    if (linked / 10000 != KG_VERSION_MAJOR || linked < KG_VERSION_NUMBER) {
        fprintf(stderr, "keyglide %s linked, %d.%d.x expected\n", kg_version_string(),
                KG_VERSION_MAJOR, KG_VERSION_MINOR);
        return 1;
    }

    /* 1. From a path: the file is memory-mapped read-only and read in place. */
    st = kg_open_path(argv[1], &db);
    if (st != KG_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], kg_status_message(st));
        return 1;
    }
    st = suggest(db, argv[2]);
    kg_close(db);
    if (st != KG_OK) {
        fprintf(stderr, "predict: %s\n", kg_status_message(st));
        return 1;
    }

    /* 2. From memory: the bytes must stay valid and unchanged until kg_close. */
    data = load(argv[1], &size);
    if (!data) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    st = kg_open_buffer(data, size, &db);
    if (st == KG_OK) {
        st = kg_verify(db); /* optional: O(size), every checksum and invariant */
        if (st == KG_OK)
            st = suggest(db, argv[2]);
        kg_close(db);
    }
    free(data); /* only after kg_close */
    if (st != KG_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], kg_status_message(st));
        return 1;
    }
    return 0;
}
