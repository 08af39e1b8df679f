/* CRC-32 as zlib's crc32() computes it, table driven (slicing by 8: kg_verify reads the
 * whole file, so the checksum is its main cost). */
#include "crc32_table.h"
#include "internal.h"

uint32_t kg_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    const uint32_t(*t)[256] = kg_crc32_table;
    crc = ~crc;
    while (n >= 8) {
        /* The bytes are combined explicitly, so the result does not depend on the host's
         * byte order or on p's alignment. */
        uint32_t lo = crc ^ kg_le32(p);
        uint32_t hi = kg_le32(p + 4);
        crc = t[7][lo & 0xFF] ^ t[6][lo >> 8 & 0xFF] ^ t[5][lo >> 16 & 0xFF] ^ t[4][lo >> 24] ^
              t[3][hi & 0xFF] ^ t[2][hi >> 8 & 0xFF] ^ t[1][hi >> 16 & 0xFF] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = crc >> 8 ^ t[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}
