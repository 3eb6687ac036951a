/*
 * The C floor for bench/tx.js: a 64-byte transactional update, written the
 * way a C program would, against the same libpmemobj, with the same pool
 * settings as ObjPool (stats on), in a pre-faulted pool: every page of the
 * pool is written (with the byte it holds) before timing, so what it pays
 * is libpmemobj's transaction (undo snapshot, flushes, fences), no page
 * faults. Prints one JSON line:
 *   {"tx64": [ns/op per round, ...]}
 * usage: tx <pool file> <ops per round> <rounds>
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
	if (argc != 4) {
		fprintf(stderr, "usage: tx <pool> <ops> <rounds>\n");
		return 2;
	}
	const char *path = argv[1];
	long ops = atol(argv[2]);
	int rounds = atoi(argv[3]);
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

	double *cpus = calloc(rounds > 0 ? rounds : 1, sizeof(double));
	printf("{\"tx64\": [");
	for (int r = -1; r < rounds; r++) {
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
			printf("%s%.1f", r ? ", " : "", per);
			cpus[r] = cpu;
		}
	}
	printf("], \"tx64cpu\": [");
	for (int r = 0; r < rounds; r++)
		printf("%s%.1f", r ? ", " : "", cpus[r]);
	printf("]}\n");
	pmemobj_close(pop);
	unlink(path);
	return 0;
}
