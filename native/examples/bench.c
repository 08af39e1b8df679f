/* bench: prediction throughput of the kernel on one langdb, with 1 and 2 threads.
 *
 *   bench LANGDB [TEXTFILE] [-k K] [-n ROUNDS] [-c BYTES]
 *
 * Queries are the prefixes of the lines of TEXTFILE (or a built-in sample) cut after each
 * word (next-word prediction) and inside each word (completion); -c keeps only the last
 * BYTES bytes of each (the text a keyboard passes is often the current field or less).
 * Prints the median latency of one prediction and predictions per second with 1 and 2
 * threads sharing one handle. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyglide.h"

typedef struct query {
    const char *text;
    size_t len;
    int completion;
} query;

static const char *sample =
    "it is a truth universally acknowledged that a single man in possession of a good fortune "
    "must be in want of a wife. however little known the feelings or views of such a man may "
    "be on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families that he is considered the rightful property of some one or other of "
    "their daughters. my dear mr. bennet, said his lady to him one day, have you heard that "
    "netherfield park is let at last? mr. bennet replied that he had not. but it is, returned "
    "she; for mrs. long has just been here, and she told me all about it.\n";

static query *queries;
static size_t n_queries;
static kg_db *db;
static size_t k = 3;
static long rounds = 20;
static int only = -1; /* -1: every query; 0: next word only; 1: completions only */
static size_t max_bytes = (size_t)-1;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Cut every line after each word end (next word) and in the middle of each word. */
static void make_queries(const char *text)
{
    size_t len = strlen(text), i, cap = 1024, line = 0;
    queries = malloc(cap * sizeof *queries);
    for (i = 0; i < len; i++) {
        int cut_next = text[i] == ' ', cut_mid = i + 2 < len && text[i] != ' ' &&
                                                 text[i + 1] != ' ' && text[i + 2] != ' ' &&
                                                 (i == 0 || text[i - 1] == ' ');
        if (text[i] == '\n')
            line = i + 1;
        if (!cut_next && !cut_mid)
            continue;
        if (n_queries + 1 >= cap)
            queries = realloc(queries, (cap *= 2) * sizeof *queries);
        queries[n_queries].text = text + line;
        queries[n_queries].len = cut_next ? i + 1 - line : i + 2 - line;
        queries[n_queries].completion = !cut_next;
        if (queries[n_queries].len > max_bytes) {
            queries[n_queries].text += queries[n_queries].len - max_bytes;
            queries[n_queries].len = max_bytes;
        }
        n_queries++;
    }
}

static void *worker(void *arg)
{
    long r;
    size_t i, n, done = 0; /* counted locally: a shared cache line would serialize threads */
    kg_suggestion out[KG_MAX_K];
    for (r = 0; r < rounds; r++)
        for (i = 0; i < n_queries; i++)
            if ((only < 0 || queries[i].completion == only) &&
                kg_predict(db, queries[i].text, queries[i].len, k, out, &n) == KG_OK)
                done++;
    *(size_t *)arg = done;
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_latency(int completion)
{
    size_t i, m = 0, n, rep;
    kg_suggestion out[KG_MAX_K];
    double *t = malloc(n_queries * sizeof *t), med;
    for (i = 0; i < n_queries; i++) {
        double t0;
        if (queries[i].completion != completion)
            continue;
        t0 = now();
        for (rep = 0; rep < 50; rep++)
            kg_predict(db, queries[i].text, queries[i].len, k, out, &n);
        t[m++] = (now() - t0) / 50;
    }
    qsort(t, m, sizeof *t, cmp_double);
    med = m ? t[m / 2] : 0;
    free(t);
    return med;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    char *buf;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    const char *text = sample;
    int a, threads;
    kg_status st;
    if (argc < 2) {
        fprintf(stderr, "usage: bench LANGDB [TEXTFILE] [-k K] [-n ROUNDS] [-c BYTES]\n");
        return 2;
    }
    for (a = 2; a < argc; a++) {
        if (strcmp(argv[a], "-k") == 0 && a + 1 < argc)
            k = (size_t)atoi(argv[++a]);
        else if (strcmp(argv[a], "-n") == 0 && a + 1 < argc)
            rounds = atol(argv[++a]);
        else if (strcmp(argv[a], "-c") == 0 && a + 1 < argc)
            max_bytes = (size_t)atol(argv[++a]);
        else if (!(text = read_file(argv[a]))) {
            fprintf(stderr, "bench: cannot read %s\n", argv[a]);
            return 1;
        }
    }
    if ((st = kg_open_path(argv[1], &db)) != KG_OK) {
        fprintf(stderr, "bench: %s: %s\n", argv[1], kg_status_message(st));
        return 1;
    }
    make_queries(text);
    {
        /* One untimed pass: the file is mapped lazily, and first touches are page faults,
         * not prediction. */
        size_t warm = 0;
        long saved = rounds;
        rounds = 1;
        worker(&warm);
        rounds = saved;
    }
    {
        size_t i, total = 0;
        for (i = 0; i < n_queries; i++)
            total += queries[i].len;
        printf("queries: %zu (mean %.0f bytes), k = %zu, order %u, %u words\n", n_queries,
               n_queries ? (double)total / (double)n_queries : 0.0, k, kg_order(db),
               (unsigned)kg_vocab_size(db));
    }
    printf("median latency, next word: %.2f us\n", median_latency(0) * 1e6);
    printf("median latency, completion: %.2f us\n", median_latency(1) * 1e6);
    for (only = 0; only >= -1; only--) {
        for (threads = 1; threads <= 2; threads++) {
            pthread_t tid[2];
            size_t done[2] = {0, 0};
            int t;
            double t0 = now(), dt;
            for (t = 0; t < threads; t++)
                pthread_create(&tid[t], NULL, worker, &done[t]);
            for (t = 0; t < threads; t++)
                pthread_join(tid[t], NULL);
            dt = now() - t0;
            printf("%s, %d thread%s: %.0f predictions/s\n",
                   only == 0 ? "next word" : "all queries", threads, threads > 1 ? "s" : "",
                   (double)(done[0] + done[1]) / dt);
        }
    }
    kg_close(db);
    return 0;
}
