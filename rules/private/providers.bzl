"""Providers of rules_rust_multiarch."""

MultiarchInfo = provider(
    doc = "The per-level builds inside a `rust_multiarch_binary` bundle.",
    fields = {
        "bundle": "File: the bundle executable (launcher plus every embedded build).",
        "generated_source": "File: the generated launcher crate root with one include_bytes! per level.",
        "levels": "list[str]: the embedded levels as short names (\"v1\", ...), baseline first.",
        "target_cpus": "dict[str, str]: short level name -> its `-Ctarget-cpu` value (\"v3\" -> \"x86-64-v3\").",
        "variants": "dict[str, File]: `-Ctarget-cpu` value (\"x86-64-v3\") -> the executable built for that level.",
    },
)

MultiarchLevelInfo = provider(
    doc = "Value of the //rules/settings:level build setting.",
    fields = {
        "level": "str: the level this configuration builds for (\"v1\" ... \"v4\"), or \"\" outside a multiarch variant.",
    },
)
