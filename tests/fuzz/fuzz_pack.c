/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the pack index codec and pack keys of backends/pack.c (store format
 * 2), which read objects from an untrusted store. The input is an index object; the pack
 * name it is checked against is taken from the input's own name field (bytes 16..31) when
 * there are enough bytes, so the fuzzer can get past that check. Invariants (abort() when
 * broken):
 *  - decode 0: entries ascend by offset without overlap, lie inside the pack, have plain
 *    lengths in (0, chunk_max] and frames from the frame header up to header + length; and
 *    encoding the result gives back the input byte for byte;
 *  - decode otherwise: EINVAL with a reason, or ENOMEM, and nothing left allocated;
 *  - a key that pack_key_parse() accepts is what pack_key() makes of its result.
 * Built and run by tests/fuzz/run.sh; see docs/fuzz.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/backend.h"

#define CMAX (1u << 20)

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_pack: invariant broken: %s\n", what);
	abort();
}

static void check_entries(const struct pack_index *ix)
{
	uint64_t end = 0;

	for (size_t i = 0; i < ix->n; i++) {
		const struct pack_entry *e = &ix->v[i];

		if (e->off < end || e->off + e->flen > ix->size || e->off + e->flen < e->off)
			fail("an accepted entry overlaps or lies outside the pack");
		if (e->len == 0 || e->len > CMAX || e->flen < CHUNK_FRAME_HDR ||
		    e->flen > (uint64_t)CHUNK_FRAME_HDR + e->len)
			fail("an accepted entry has lengths out of range");
		end = e->off + e->flen;
	}
}

static void check_index(const uint8_t *data, size_t size)
{
	uint8_t name[PACK_NAME_LEN] = { 0 };
	struct pack_index ix;
	const char *why = NULL;
	void *again;
	size_t len;
	int err;

	if (size >= 16 + PACK_NAME_LEN)
		memcpy(name, data + 16, PACK_NAME_LEN);
	err = pack_index_decode(data, size, name, CMAX, &ix, &why);
	if (err) {
		if ((err != EINVAL || !why) && err != ENOMEM)
			fail("a refusal is neither EINVAL with a reason nor ENOMEM");
		if (ix.v || ix.n)
			fail("a refused index left entries");
		return;
	}
	check_entries(&ix);
	if (pack_index_encode(&ix, CMAX, &again, &len))
		fail("encode refuses what decode accepted");
	if (len != size || memcmp(again, data, size))
		fail("encode of the decoded index differs from the input");
	free(again);
	pack_index_release(&ix);
}

static void check_key(const uint8_t *data, size_t size)
{
	char key[BE_KEY_MAX], made[BE_KEY_MAX];
	uint8_t name[PACK_NAME_LEN];
	int index;

	if (size >= sizeof(key))
		return;
	memcpy(key, data, size);
	key[size] = '\0';
	if (pack_key_parse(key, name, &index))
		return;
	if (pack_key(name, index, made, sizeof(made)) || strcmp(made, key))
		fail("an accepted key is not the key of its name");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_index(data, size);
	check_key(data, size);
	return 0;
}
