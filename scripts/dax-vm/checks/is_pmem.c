/*
 * is_pmem PATH: map PATH (creating it, 4 MiB) with libpmem's pmem_map_file
 * and print "is_pmem=N".  On a fs-dax mount libpmem detects real pmem on its
 * own (MAP_SYNC succeeds), without PMEM_IS_PMEM_FORCE.  Exit status 0 only
 * when is_pmem is 1.  A device-DAX character device (/dev/daxX.Y) is mapped
 * whole, as libpmem requires.
 */
#include <libpmem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
	const char *path = argc > 1 ? argv[1] : "/mnt/pmem/x";
	size_t mapped;
	int is_pmem;
	struct stat st;
	int devdax = stat(path, &st) == 0 && S_ISCHR(st.st_mode);
	char *p = pmem_map_file(path, devdax ? 0 : 4 << 20,
				devdax ? 0 : PMEM_FILE_CREATE, 0644,
				&mapped, &is_pmem);
	if (p == NULL) {
		fprintf(stderr, "is_pmem: %s\n", pmem_errormsg());
		return 1;
	}
	strcpy(p, "hello");
	if (is_pmem)
		pmem_persist(p, 6);
	else
		pmem_msync(p, 6);
	printf("%s: is_pmem=%d mapped=%zu\n", path, is_pmem, mapped);
	pmem_unmap(p, mapped);
	return is_pmem ? 0 : 1;
}
