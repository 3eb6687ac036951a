#!/bin/sh
# npm's install step for pmem. node-gyp-build loads a matching prebuild from
# prebuilds/, or else compiles the addon with node-gyp. When both fail, say
# what the machine lacks: the loader's and the linker's own messages above
# name a file, not the package that provides it.
node-gyp-build && exit 0
cat >&2 <<'MSG'
pmem: the native addon neither loaded from a prebuild nor compiled.
  At run time it needs libndctl and libdaxctl:
    apt-get install libndctl6 libdaxctl1
  To compile it (when no prebuild matches, or one does not load) it also needs
  PMDK's static libraries, pkg-config and a C++ toolchain:
    apt-get install libpmem-dev libpmem2-dev libpmemobj-dev pkg-config g++ make python3
  Supported: Linux x64 with glibc, Node.js >= 20. See "Install" in pmem's README.
MSG
exit 1
