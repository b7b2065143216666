/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the version manifest decoder (meta/manifest.c), which reads JSON
 * from a shared, untrusted store. Invariants checked (abort() when broken):
 *  - a manifest that decodes re-encodes (manifest_encode runs the decoder's checks, so it
 *    must accept anything manifest_decode accepted);
 *  - that encoding decodes again, and re-encodes to the very same bytes (canonical form);
 *  - both decodes give the same tree digest.
 * Built and run by tests/fuzz/run.sh; see docs/fuzz.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../meta/meta.h"

static void fail(const char *what, int rc)
{
	fprintf(stderr, "fuzz_manifest: invariant broken: %s (rc %d)\n", what, rc);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m1, m2;
	uint8_t d1[32], d2[32];
	char *e1 = NULL, *e2 = NULL;
	size_t l1 = 0, l2 = 0;
	int rc;

	if (manifest_decode((const char *)data, size, &m1))
		return 0; /* refused: fine, as long as nothing leaked or overflowed */
	rc = manifest_encode(&m1, &e1, &l1);
	if (rc == ENOMEM)
		goto out1;
	if (rc)
		fail("a decoded manifest does not encode", rc);
	if (!e1 || l1 != strlen(e1))
		fail("encode length differs from the string", 0);
	rc = manifest_decode(e1, l1, &m2);
	if (rc == ENOMEM)
		goto out1;
	if (rc)
		fail("an encoded manifest does not decode", rc);
	rc = manifest_encode(&m2, &e2, &l2);
	if (rc == ENOMEM)
		goto out2;
	if (rc)
		fail("a re-decoded manifest does not encode", rc);
	if (l1 != l2 || memcmp(e1, e2, l1)) {
		fprintf(stderr, "first:  %.*s\nsecond: %.*s\n", (int)l1, e1, (int)l2, e2);
		fail("encode(decode(x)) is not canonical", 0);
	}
	manifest_tree_digest(&m1, d1);
	manifest_tree_digest(&m2, d2);
	if (memcmp(d1, d2, 32))
		fail("tree digest changed across encode/decode", 0);
out2:
	free(e2);
	manifest_release(&m2);
out1:
	free(e1);
	manifest_release(&m1);
	return 0;
}
