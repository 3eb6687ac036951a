/*
 * The C floor for bench/tx.js: a 64-byte transactional update, written the
 * way a C program would, against the same libpmemobj, with the same pool
 * settings as ObjPool (stats on), in a pre-faulted pool: every page of the
 * pool is written (with the byte it holds) before timing, so what it pays
 * is libpmemobj's transaction (undo snapshot, flushes, fences), no page
 * faults.
 *
 * usage: tx <pool file> <ops per round>
 * After the pool is made and one untimed warm-up round, it runs one timed
 * round for each line read from stdin and answers each with one JSON line:
 *   {"ns": wall-clock ns per transaction, "cpuNs": CPU ns per transaction}
 * and exits at the end of its input. One process serves every round, so
 * that bench/tx.js forks once, not once per round: a fork write-protects
 * the forking process's heap pages, and the first store into each page
 * afterwards faults, which would be charged to the JavaScript rounds.
 */
#include <libpmemobj.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char *argv[])
{
	if (argc != 3) {
		fprintf(stderr, "usage: tx <pool> <ops>\n");
		return 2;
	}
	const char *path = argv[1];
	long ops = atol(argv[2]);
	unlink(path);
	PMEMobjpool *pop = pmemobj_create(path, "bench-tx", 64 << 20, 0666);
	if (pop == NULL) {
		fprintf(stderr, "pmemobj_create: %s\n", pmemobj_errormsg());
		return 1;
	}
	int stats = POBJ_STATS_ENABLED_BOTH;
	pmemobj_ctl_set(pop, "stats.enabled", &stats);
	PMEMoid oid;
	if (pmemobj_zalloc(pop, &oid, 64, 0) != 0)
		return 1;
	char *dst = pmemobj_direct(oid);
	/* Pre-fault every page of the pool, untimed: a store of the byte each
	 * page already holds changes nothing libpmemobj reads. */
	for (size_t off = 0; off < ((size_t)64 << 20); off += 4096) {
		volatile char *p = (char *)pop + off;
		*p = *p;
	}
	unsigned char buf[64];
	memset(buf, 0x5a, sizeof(buf));

	char line[64];
	for (int r = -1; r < 0 || fgets(line, sizeof(line), stdin) != NULL; r++) {
		/* Round -1 warms the caches and the lane's logs, untimed. */
		long n = r < 0 ? ops / 10 + 1 : ops;
		double t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		for (long i = 0; i < n; i++) {
			buf[0] = (unsigned char)i;
			/* The same steps as pool.transaction(tx => tx.write(ptr, buf)):
			 * begin without a jmp_buf, snapshot, store, commit, end. */
			if (pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE) != 0)
				return 1;
			if (pmemobj_tx_xadd_range_direct(dst, 64, POBJ_XADD_NO_ABORT) != 0)
				return 1;
			memcpy(dst, buf, 64);
			pmemobj_tx_commit();
			if (pmemobj_tx_end() != 0)
				return 1;
		}
		double per = (clock_ns(CLOCK_MONOTONIC) - t0) / n;
		double cpu = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / n;
		if (r >= 0) {
			printf("{\"ns\": %.1f, \"cpuNs\": %.1f}\n", per, cpu);
			fflush(stdout);
		}
	}
	pmemobj_close(pop);
	unlink(path);
	return 0;
}
