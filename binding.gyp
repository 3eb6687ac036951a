{
  # One build system: node-gyp (see docs/ARCHITECTURE.md, "Build").
  # PMDK is linked statically from Debian's libpmem.a, libpmem2.a and
  # libpmemobj.a, so a prebuild needs only libndctl6 and libdaxctl1 at run
  # time (Debian ships those as shared libraries only).
  "variables": {
    "pmem_libdir": "<!(pkg-config --variable=libdir libpmem)"
  },
  "targets": [
    {
      "target_name": "pmem",
      "sources": [
        "native/addon.cc",
        "native/crc32c.cc",
        "native/errors.cc",
        "native/filelock.cc",
        "native/kvscan.cc",
        "native/sim.cc",
        "native/mapping.cc",
        "native/space.cc",
        "native/hotpath.cc",
        "native/objpool.cc",
        "native/objtx.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "cflags": ["-fvisibility=hidden", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fexceptions", "-O2"],
      "libraries": [
        "<(pmem_libdir)/libpmemobj.a",
        "<(pmem_libdir)/libpmem2.a",
        "<(pmem_libdir)/libpmem.a",
        "-lndctl",
        "-ldaxctl",
        "-ldl",
        "-lpthread",
        "-Wl,--exclude-libs,ALL"
      ]
    }
  ]
}
