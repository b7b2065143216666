/* SPDX-License-Identifier: MIT */
/*
 * The store's "format" object: a small JSON document that marks a directory or bucket as an
 * artifs store and fixes the chunking and compression parameters for its whole life (chunk
 * names depend on where the chunker cuts, so changing them later would defeat dedup).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <jansson.h>
#include <zstd.h>

#include "backend.h"

#define FORMAT_KEY "format"
#define FORMAT_VERSION 2 /* what new stores get; 1 is read and written too */
#define FORMAT_MAX_SIZE (64 * 1024)
#define CHUNK_MIN_FLOOR 64u /* below this the gear hash window is not even full */
#define CHUNK_MAX_CEIL (64u << 20)

static const char not_store[] = "not an artifs store (no valid 'format' object)";

void store_conf_init(struct store_conf *c)
{
	/* Small chunks for identity, packs for transfer: docs/store-format.md, "Chunk size". */
	c->format = FORMAT_VERSION;
	c->chunk_min = 8u << 10;
	c->chunk_avg = 32u << 10;
	c->chunk_max = 128u << 10;
	c->zstd_level = 1; /* docs/store-format.md, "Why level 1" */
}

static int conf_check(const struct store_conf *c, const char **why)
{
	if (c->chunk_min < CHUNK_MIN_FLOOR) {
		*why = "chunk_min must be at least 64 bytes";
		return EINVAL;
	}
	if (c->chunk_min > c->chunk_avg || c->chunk_avg > c->chunk_max) {
		*why = "chunk sizes must satisfy chunk_min <= chunk_avg <= chunk_max";
		return EINVAL;
	}
	if (c->chunk_avg & (c->chunk_avg - 1)) {
		*why = "chunk_avg must be a power of two";
		return EINVAL;
	}
	if (c->chunk_max > CHUNK_MAX_CEIL) {
		*why = "chunk_max must be at most 64 MiB";
		return EINVAL;
	}
	if (c->format != 1 && c->format != 2) {
		*why = "the store format must be 1 or 2";
		return EINVAL;
	}
	if (c->zstd_level < 0 || c->zstd_level > ZSTD_maxCLevel()) {
		*why = "zstd_level must be between 0 (no compression) and 22";
		return EINVAL;
	}
	return 0;
}

static int list_any(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	return 1; /* one object is enough: stop */
}

/* 0 and *empty = 1 when the store holds no object at all. */
static int store_is_empty(struct be *be, int *empty)
{
	int err = be_list(be, "", list_any, NULL);

	if (err == 1) {
		*empty = 0;
		return 0;
	}
	*empty = 1;
	return err;
}

static int get_u32(json_t *root, const char *name, uint32_t *out)
{
	json_t *v = json_object_get(root, name);
	json_int_t i;

	if (!json_is_integer(v))
		return EINVAL;
	i = json_integer_value(v);
	if (i < 0 || i > UINT32_MAX)
		return EINVAL;
	*out = (uint32_t)i;
	return 0;
}

static int format_parse(const void *buf, size_t len, struct store_conf *c, const char **why)
{
	struct store_conf t;
	json_error_t jerr;
	json_t *root, *v;
	uint32_t level;
	int err = EINVAL;

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		*why = not_store;
		goto out;
	}
	v = json_object_get(root, "artifs_store");
	if (!json_is_integer(v)) {
		*why = not_store;
		goto out;
	}
	if (json_integer_value(v) != 1 && json_integer_value(v) != 2) {
		*why = "unsupported store format version (written by a newer artifs?)";
		goto out;
	}
	t.format = (uint32_t)json_integer_value(v);
	if (get_u32(root, "chunk_min", &t.chunk_min) || get_u32(root, "chunk_avg", &t.chunk_avg) ||
	    get_u32(root, "chunk_max", &t.chunk_max) || get_u32(root, "zstd_level", &level) ||
	    level > INT32_MAX) {
		*why = "the 'format' object lacks a chunk_min, chunk_avg, chunk_max or zstd_level";
		goto out;
	}
	t.zstd_level = (int)level;
	err = conf_check(&t, why);
	if (err)
		goto out;
	*c = t;
out:
	json_decref(root);
	return err;
}

static int format_write(struct be *be, const struct store_conf *c)
{
	json_t *root;
	char *text = NULL;
	int err = 0;

	root = json_pack("{s:i, s:I, s:I, s:I, s:i}", "artifs_store", (int)c->format,
			 "chunk_min", (json_int_t)c->chunk_min, "chunk_avg",
			 (json_int_t)c->chunk_avg, "chunk_max", (json_int_t)c->chunk_max,
			 "zstd_level", c->zstd_level);
	if (root)
		text = json_dumps(root, JSON_PRESERVE_ORDER);
	if (!text) {
		err = ENOMEM;
		goto out;
	}
	err = be_create(be, FORMAT_KEY, text, strlen(text));
out:
	free(text);
	json_decref(root);
	return err;
}

int store_open(struct be *be, int create, struct store_conf *c, const char **why)
{
	const char *dummy;
	void *buf = NULL;
	size_t len;
	int err, empty, tries;

	if (!why)
		why = &dummy;
	*why = NULL;
	for (tries = 0; tries < 2; tries++) {
		err = be_get_all(be, FORMAT_KEY, FORMAT_MAX_SIZE, &buf, &len);
		if (!err) {
			err = format_parse(buf, len, c, why);
			free(buf);
			return err;
		}
		if (err == EFBIG) {
			*why = not_store;
			return EINVAL;
		}
		if (err != ENOENT) {
			*why = "cannot read the 'format' object";
			return err;
		}
		err = store_is_empty(be, &empty);
		if (err) {
			*why = "cannot list the store";
			return err;
		}
		if (!empty) {
			*why = not_store;
			return EINVAL;
		}
		if (!create) {
			*why = "the store is empty (not created yet)";
			return ENOENT;
		}
		err = conf_check(c, why);
		if (err)
			return err;
		err = format_write(be, c);
		if (!err) {
			log_msg(LOG_INFO, "created a store: format %u, chunks %u/%u/%u bytes, zstd "
				"level %d", c->format, c->chunk_min, c->chunk_avg, c->chunk_max,
				c->zstd_level);
			return 0;
		}
		if (err != EEXIST) {
			*why = "cannot write the 'format' object";
			return err;
		}
		/* Someone else created the store at the same time: read theirs. */
	}
	*why = not_store;
	return EINVAL;
}
