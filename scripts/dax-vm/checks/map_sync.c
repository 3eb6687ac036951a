/*
 * map_sync PATH: create PATH (4 KiB), mmap it with MAP_SHARED_VALIDATE |
 * MAP_SYNC, store into it and print "OK".  The kernel refuses MAP_SYNC with
 * EOPNOTSUPP unless the file lives on a DAX file system, so this proves the
 * mount really is fs-dax.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

int main(int argc, char **argv) {
	const char *path = argc > 1 ? argv[1] : "/mnt/pmem/map_sync";
	const size_t len = 4096;
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, len) != 0) {
		fprintf(stderr, "map_sync: %s: %s\n", path, strerror(errno));
		return 1;
	}
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "map_sync: mmap MAP_SYNC %s: %s\n", path, strerror(errno));
		return 1;
	}
	strcpy(p, "hello");
	if (munmap(p, len) != 0 || close(fd) != 0) {
		perror("map_sync");
		return 1;
	}
	puts("OK");
	return 0;
}
