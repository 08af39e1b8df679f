/* kg_open_path and kg_close: the only code outside C99 + libc (POSIX open/fstat/mmap).
 *
 * Where there is no mmap (Windows, or any build with -DKG_NO_MMAP), kg_open_path reads the
 * file into memory instead (C99 stdio), which kg_close frees: the same answers, at the cost
 * of reading the whole file at open and holding it in memory. */
#if defined(_WIN32) || defined(KG_NO_MMAP)

#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

kg_status kg_open_path(const char *path, kg_db **out)
{
    FILE *f;
    long end;
    size_t size;
    void *data;
    kg_status status;

    if (!path || !out)
        return KG_E_INVALID_ARGUMENT;
    f = fopen(path, "rb");
    if (!f)
        return KG_E_IO;
    if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (unsigned long)end > (size_t)-1) {
        fclose(f);
        return KG_E_IO;
    }
    size = (size_t)end;
    data = malloc(size ? size : 1);
    if (!data) {
        fclose(f);
        return KG_E_NO_MEMORY;
    }
    if (fread(data, 1, size, f) != size || ferror(f)) {
        fclose(f);
        free(data);
        return KG_E_IO;
    }
    fclose(f);
    status = kg_open_buffer(data, size, out);
    if (status != KG_OK) {
        free(data);
        return status;
    }
    (*out)->map = data;
    (*out)->map_size = size;
    return KG_OK;
}

void kg_close(kg_db *db)
{
    if (!db)
        return;
    free(db->map);
    free(db);
}

#else /* POSIX: the file is mapped read-only and read in place */

#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

kg_status kg_open_path(const char *path, kg_db **out)
{
    struct stat st;
    void *map;
    size_t size;
    kg_status status;
    int fd;

    if (!path || !out)
        return KG_E_INVALID_ARGUMENT;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return KG_E_IO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (unsigned long long)st.st_size > (size_t)-1) {
        close(fd);
        return KG_E_IO;
    }
    size = (size_t)st.st_size;
    if (size == 0) { /* nothing to map; the checks report the empty file */
        close(fd);
        return kg_open_buffer("", 0, out);
    }
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED)
        return KG_E_IO;
    status = kg_open_buffer(map, size, out);
    if (status != KG_OK) {
        munmap(map, size);
        return status;
    }
    (*out)->map = map;
    (*out)->map_size = size;
    return KG_OK;
}

void kg_close(kg_db *db)
{
    if (!db)
        return;
    if (db->map)
        munmap(db->map, db->map_size);
    free(db);
}

#endif
