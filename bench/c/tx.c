/*
 * The C floor for bench/tx.js: a 64-byte transactional update, written the
 * way a C program would, against the same libpmemobj, with the same pool
 * settings as ObjPool (stats on). Prints one JSON line:
 *   {"tx64": [ns/op per round, ...]}
 * usage: tx <pool file> <ops per round> <rounds>
 */
#include <libpmemobj.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
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
	unsigned char buf[64];
	memset(buf, 0x5a, sizeof(buf));

	printf("{\"tx64\": [");
	for (int r = -1; r < rounds; r++) {
		/* Round -1 warms the caches and the lane's logs, untimed. */
		long n = r < 0 ? ops / 10 + 1 : ops;
		double t0 = now_ns();
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
		double per = (now_ns() - t0) / n;
		if (r >= 0)
			printf("%s%.1f", r ? ", " : "", per);
	}
	printf("]}\n");
	pmemobj_close(pop);
	unlink(path);
	return 0;
}
