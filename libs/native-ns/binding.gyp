{
  # Built by libs/native-ns's `build` target: node-gyp against the installed Node headers
  # (--nodedir=/usr), never downloaded ones.
  "variables": {
    "core_sources": [
      "src/core/ns_error.c",
      "src/core/safe_path.c",
      "src/core/mounts.c",
      "src/core/idmap.c",
      "src/core/fdpass.c",
      "src/core/seccomp.c",
      "src/core/caps.c",
      "src/core/wire.c",
      "src/core/spawn.c",
      "src/core/fsat.c"
    ],
    "hardening_cflags": [
      "-Wall", "-Wextra", "-Werror", "-Wformat=2", "-Wshadow", "-Wno-unused-parameter",
      "-Wno-missing-field-initializers", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-D_GNU_SOURCE"
    ]
  },
  "targets": [
    {
      "target_name": "native_ns",
      "sources": [
        "<@(core_sources)",
        "src/binding/addon.cc",
        "src/binding/errors.cc",
        "src/binding/ops.cc",
        "src/binding/process_manager.cc",
        "src/binding/channel.cc",
        "src/binding/seccomp_listener.cc",
        "src/binding/fs_at.cc",
        "src/binding/listener.cc",
        "src/binding/ns_join.cc",
        "src/core/nsjoin.c",
        "src/core/masks.c"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags": ["<@(hardening_cflags)", "-O2"],
      "cflags_cc": [
        "<@(hardening_cflags)", "-O2", "-std=c++17", "-fexceptions",
        "-isystem", "<!(node -p \"require('path').dirname(require.resolve('node-addon-api/napi.h'))\")"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-Wl,-z,relro,-z,now"]
    },
    {
      "target_name": "wsrun-stage",
      "type": "executable",
      "sources": ["<@(core_sources)", "src/stage/stage_main.c"],
      "cflags": ["<@(hardening_cflags)", "-O2", "-fPIE"],
      # static: every stage execs it (ring1 at each workspace start); no dynamic loading and
      # relocation of libc makes its exec ~0.1 ms cheaper (tools/bench/native-ns-spawn.mjs)
      "ldflags": ["-static-pie", "-Wl,-z,relro,-z,now"]
    }
  ]
}
