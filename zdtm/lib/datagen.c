/* Data generators with checksums. */
#include "zdtmtst.h"

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t zdtm_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc_table[1])
		crc_init();
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

void datagen(void *buf, size_t len, uint32_t *crc)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ *crc;
	uint8_t *p = buf;
	size_t i;

	if (!x)
		x = 1;
	for (i = 0; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__builtin_memcpy(p + i, &x, 8);
	}
	for (; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
	*crc = zdtm_crc32(0, buf, len);
}

int datachk(const void *buf, size_t len, const uint32_t *crc)
{
	return zdtm_crc32(0, buf, len) == *crc ? 0 : -1;
}
