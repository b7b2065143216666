/* SPDX-License-Identifier: MIT */
/*
 * Private to meta/: the environment and transaction structs shared by meta.c (environment,
 * transactions, map growth) and index.c (the typed accessors over the DBIs).
 */
#ifndef ARTIFS_META_INT_H
#define ARTIFS_META_INT_H

#include <pthread.h>

#include <lmdb.h>

#include "meta.h"

/* Every DBI, opened once by meta_open() in one transaction. */
enum meta_dbi {
	DBI_CONF,
	DBI_INODES,
	DBI_LINKS,
	DBI_CHUNKS,
	DBI_DIRENTS,
	DBI_XATTRS,
	DBI_ARTIFACTS,
	DBI_VERSIONS,
	DBI_LINEAGE_UP,   /* (artifact, N, input artifact, input N) -> how */
	DBI_LINEAGE_DOWN, /* (input artifact, input N, artifact, N) -> how */
	DBI_LABEL_IDX,    /* (label key, 0, SHA-256/16 of value, artifact, N) -> empty */
	DBI_METRIC_IDX,   /* (metric name, 0, ordered double, artifact, N) -> empty */
	DBI_CHUNK_OK,     /* chunk id (32 bytes) -> empty: known good in the store */
	DBI_ORPHANS,      /* ino -> empty: unlinked while in use, freed when unused */
	DBI_CHUNK_AT,     /* chunk id's first 16 bytes -> pack number, frame, own (9 bytes) */
	DBI_PACKS,        /* pack name -> index digest, pack number, frames (44 bytes each) */
	DBI_RUNS,         /* ino -> runs (pack name, first frame, count: 24 bytes each) */
	DBI_PACK_NO,      /* pack number (4 bytes) -> pack name (16 bytes) */
	DBI_REMOVED,      /* (artifact, N) -> removed version; (artifact, 0) -> removed through */
	DBI_COUNT
};

struct meta {
	MDB_env *env;
	MDB_dbi dbi[DBI_COUNT];
	int lock_fd;
	/*
	 * Held for reading by every open transaction and for writing while the map is resized:
	 * mdb_env_set_mapsize() must not run while this process has a transaction open.
	 */
	pthread_rwlock_t resize;
	/* Current map size; written only under the write side of resize. */
	uint64_t map_size;
};

struct meta_txn {
	struct meta *m;
	MDB_txn *txn;
	int rdonly;
	uint64_t map_size; /* m->map_size when the transaction began */
};

/* Schema 1 to 2, in the transaction that opens the DBIs: each pack record gets a number and
 * its frames' places, and old_loc (schema 1's chunk_loc: chunk id -> pack name, offset, frame
 * length, frame, own) becomes chunk_at, then is dropped. */
int meta_upgrade_packs(struct meta_txn *txn, MDB_dbi old_loc);

/* Translates an LMDB (or errno) code into our errno convention; logs the unexpected ones. */
int meta_err(int rc, const char *what);

/* Fixed-width big-endian integers in keys, so B-tree order is numeric order. */
static inline void meta_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t meta_be64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void meta_be32_put(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint32_t meta_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
