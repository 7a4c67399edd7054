{
  "targets": [
    {
      "target_name": "inkwell",
      "sources": ["inkwell.cc", "dispatch.cc", "distributed.cc", "device.cc"],
      "include_dirs": [
        "<!(node torch-paths.cjs napi)",
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node torch-paths.cjs include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GLIBCXX_USE_CXX11_ABI=1", "<!@(node torch-paths.cjs defines)"],
      "cflags_cc!": ["-fno-rtti", "-fno-exceptions", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["<!(node torch-paths.cjs std)", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": ["-L<!(node torch-paths.cjs lib)", "<!@(node torch-paths.cjs libs)"]
    }
  ]
}
