/* Built once per level: the -march its copts select() (BUILD.bazel). */
#if defined(__AVX512F__)
const char level_math_level[] = "v4";
#elif defined(__AVX2__)
const char level_math_level[] = "v3";
#elif defined(__SSE4_2__)
const char level_math_level[] = "v2";
#else
const char level_math_level[] = "v1";
#endif
