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
        "native/core/crc32c.cc",
        "native/core/errors.cc",
        "native/core/filelock.cc",
        "native/core/libm.cc",
        "native/core/nochdir.cc",
        "native/core/views.cc",
        "native/kv/scan.cc",
        "native/kv/table.cc",
        "native/sim/model.cc",
        "native/sim/loader.cc",
        "native/sim/sim.cc",
        "native/mapping/mapping.cc",
        "native/mapping/space.cc",
        "native/mapping/granularity.cc",
        "native/mapping/hotpath.cc",
        "native/mapping/records.cc",
        "native/mapping/populate.cc",
        "native/mapping/gather.cc",
        "native/obj/pool.cc",
        "native/obj/check.cc",
        "native/obj/heap.cc",
        "native/obj/tx.cc"
      ],
      "include_dirs": [
        "native",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        # A worker terminated during a native call: the error that call
        # throws can no longer reach JavaScript (the worker's environment is
        # going), and node-addon-api would otherwise end the whole process.
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
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
