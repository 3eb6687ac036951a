/*
 * A DRAM hash index of the same shape as lib/kv/hash-index.ts, for the C
 * floors of a get (bench/c/kv-get-floor.c, bench/c/floor.c): the key's hash
 * (FNV-1a over its bytes, finalized with murmur3's fmix32), one table of
 * (entry offset u32, hash u32) slots probed linearly from hash & mask, grown
 * as KvIndex grows it (to at least twice the keys once the load passes 3/4),
 * and a lookup that compares the slot's hash before the entry's key length
 * and bytes. Entries are KVStore's: type u8, zero u8, key length u16, value
 * length u32, key, value, at offsets > 1 from `base`. A table from 4 MiB
 * asks for transparent huge pages before its first store, as KvIndex does
 * (native/kv/table.cc).
 */
#ifndef KV_INDEX_H
#define KV_INDEX_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define KV_ENTRY_HEADER 8

static inline uint32_t kv_fmix(uint32_t h) {
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

static inline uint32_t kv_hash(const unsigned char *k, size_t n) {
	uint32_t h = 0x811c9dc5u;
	for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 0x01000193u;
	return kv_fmix(h);
}

/* A zeroed table of `bytes`; from 4 MiB, 2 MiB-aligned and hinted for huge pages before it is written. */
static inline uint32_t *kv_table_alloc(size_t bytes) {
	if (bytes < ((size_t)4 << 20)) return calloc(bytes, 1);
	void *p = NULL;
	if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, bytes, MADV_HUGEPAGE);
#endif
	memset(p, 0, bytes);
	return p;
}

struct kv_index {
	uint32_t *slots; /* slot i: [2i] entry offset (0: empty), [2i + 1] the key's hash */
	uint32_t mask;
	size_t size;
	const unsigned char *base;
};

static inline int kv_index_init(struct kv_index *x, const unsigned char *base) {
	x->slots = calloc(2 * 1024, sizeof(uint32_t));
	x->mask = 1023;
	x->size = 0;
	x->base = base;
	return x->slots == NULL ? -1 : 0;
}

static inline void kv_place(uint32_t *s, uint32_t mask, uint32_t off, uint32_t h) {
	uint32_t i = h & mask;
	while (s[2 * i] != 0) i = (i + 1) & mask;
	s[2 * i] = off;
	s[2 * i + 1] = h;
}

/* Adds the entry at base + off (a key not in the index yet). */
static inline int kv_index_insert(struct kv_index *x, uint32_t off) {
	const unsigned char *e = x->base + off;
	uint32_t h = kv_hash(e + KV_ENTRY_HEADER, (size_t)(e[2] | (e[3] << 8)));
	if ((x->size + 1) * 4 > (size_t)(x->mask + 1) * 3) {
		size_t cap = (size_t)x->mask + 1;
		while ((x->size + 1) * 2 > cap) cap *= 2;
		uint32_t *s = kv_table_alloc(2 * cap * sizeof(uint32_t));
		if (s == NULL) return -1;
		for (size_t i = 0; i <= x->mask; i++) {
			if (x->slots[2 * i] != 0) kv_place(s, (uint32_t)(cap - 1), x->slots[2 * i], x->slots[2 * i + 1]);
		}
		free(x->slots);
		x->slots = s;
		x->mask = (uint32_t)(cap - 1);
	}
	kv_place(x->slots, x->mask, off, h);
	x->size++;
	return 0;
}

/*
 * Points `key` (n bytes, already in the index) at the entry at base + off,
 * which holds it: hash, probe, key compared against the entry the slot
 * holds, slot repointed. Returns the offset it replaced, or 0 when the key
 * is missing. The key is the caller's copy, not the entry's: the entry's
 * lines were just written back, and CLWB may have evicted them (it does on
 * AMD Zen 4), so reading them would cost a miss that KVStore's put does not
 * pay (it hashes and compares the key from its own copy too).
 */
static inline uint32_t kv_index_repoint(struct kv_index *x, uint32_t off, const unsigned char *key, size_t n) {
	uint32_t h = kv_hash(key, n);
	for (uint32_t i = h & x->mask;; i = (i + 1) & x->mask) {
		uint32_t o = x->slots[2 * i];
		if (o == 0) return 0;
		if (x->slots[2 * i + 1] != h) continue;
		const unsigned char *old = x->base + o;
		if ((size_t)(old[2] | (old[3] << 8)) != n || memcmp(old + KV_ENTRY_HEADER, key, n) != 0) continue;
		x->slots[2 * i] = off;
		return o;
	}
}

/* The get: hash, probe, memcpy of the value into out. Returns its length, or -1. */
static inline long kv_index_get(const struct kv_index *x, const unsigned char *key, size_t n, unsigned char *out) {
	uint32_t h = kv_hash(key, n);
	for (uint32_t i = h & x->mask;; i = (i + 1) & x->mask) {
		uint32_t o = x->slots[2 * i];
		if (o == 0) return -1;
		if (x->slots[2 * i + 1] != h) continue;
		const unsigned char *e = x->base + o;
		if ((size_t)(e[2] | (e[3] << 8)) != n || memcmp(e + KV_ENTRY_HEADER, key, n) != 0) continue;
		uint32_t vlen;
		memcpy(&vlen, e + 4, 4);
		memcpy(out, e + KV_ENTRY_HEADER + n, vlen);
		return vlen;
	}
}

#endif
