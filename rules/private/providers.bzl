"""Providers of rules_rust_multiarch."""

MultiarchInfo = provider(
    doc = "The builds (variants) inside a `rust_multiarch_binary` bundle.",
    fields = {
        "bundle": "File: the bundle executable (launcher plus every embedded build).",
        "generated_source": "File: the generated launcher crate root with one include_bytes! per variant.",
        "levels": "list[str]: the embedded level variants as short names (\"v1\", ...), in the variants' order (`levels`: baseline first).",
        "rustc_flags": "dict[str, list[str]]: variant name -> the codegen flags its build got last (`-Ctarget-cpu=...`, `-Ctarget-feature=+a,+b`), in the order given.",
        "target_cpus": "dict[str, str]: short level name -> its `-Ctarget-cpu` value (\"v3\" -> \"x86-64-v3\"), for the embedded level variants.",
        "variants": "dict[str, File]: variant name (a level's is its rustc CPU name, \"x86-64-v3\") -> the executable built for it, in the order given (`levels`: baseline first).",
    },
)

MultiarchLevelInfo = provider(
    doc = "Value of the //rules/settings:level build setting.",
    fields = {
        "level": "str: the level this configuration builds for (\"v1\" ... \"v4\"), or \"\" outside a multiarch variant.",
    },
)

MultiarchVariantInfo = provider(
    doc = "Value of the //rules/settings:variant build setting.",
    fields = {
        "variant": "str: the variant this configuration builds (its name in the bundle, \"x86-64-v3\" for a level), or \"\" outside a multiarch variant.",
    },
)
