/* kg_open_path and kg_close: the only code outside C99 + libc (POSIX open/fstat/mmap). */
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
