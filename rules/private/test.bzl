"""`rust_multiarch_test`: runs a Rust test once per variant (x86-64 level), natively or under qemu.

The test is built once per variant through the same transitions as a
bundle's program (transitions.bzl: the baseline transition saves the user's
rustc flags, the split transition adds each variant's `-Ctarget-cpu` and
`-Ctarget-feature`), so each build is the code a `rust_multiarch_binary`
with the same `levels` or `variants` ships. A generated bash runner runs the
builds one after the other. For a level variant:

- natively where this CPU has the level. It asks glibc's dynamic loader,
  which every glibc x86-64 program (the test builds included) is loaded by:
  `/lib64/ld-linux-x86-64.so.2 --help` lists "x86-64-vN (supported,
  searched)" for the levels the CPU and OS support (glibc 2.33 and later);
  with an older glibc it reads the CPU flags in /proc/cpuinfo instead;
- under `qemu-x86_64 -cpu MODEL` where it does not, MODEL being the qemu
  model of that level: qemu64 (v1), Nehalem (v2), Haswell (v3). qemu 7.2
  (Debian 12) has no model with AVX-512 that it can emulate, so v4 runs only
  on a CPU that has it and is skipped elsewhere;
- skipped, with a line saying why, when qemu is needed and absent.

For a variant that is not a level (`variants` with another CPU or
features), the toolchain's rustc lists the target features the variant's
flags enable (`rustc --print cfg --target TRIPLE FLAGS`, an action), and a
small probe built for the baseline (`//rules/private:variant_probe`) checks
them against what std detects at run time: the variant runs natively where
the probe passes, else under the first qemu model where it passes (qemu64,
Nehalem, Haswell, max), else it is skipped. The probe knows 48 features (the
list in variant_probe.rs) and names the others it cannot check; a variant
that needs one of those may be run on a CPU without it and then fails
(SIGILL): a failure, never a silent pass.

The runner prints one line per level ("ran natively", "ran under
qemu-x86_64 -cpu MODEL", "skipped: ...") and fails when any level's test
fails. `MULTIARCH_TEST_QEMU` (`--test_env=MULTIARCH_TEST_QEMU=...`):
`auto` (default), `always` (every level that has a qemu model runs under
it, even on a CPU that has the level), `never` (no qemu: levels above the
CPU are skipped).

What it needs where the test runs (locally or on a remote executor):
`/bin/bash` and glibc's loader, as any rules_rust test does, and qemu-user
for levels above that machine's CPU: the `qemu` attribute (a `qemu-x86_64`
executable target, then a declared input) or `qemu-x86_64` on the test's
PATH (`bazel test` gives tests `/bin:/usr/bin:/usr/local/bin` under
`--incompatible_strict_action_env`). It runs no other program.
"""

load("@rules_rust//rust:defs.bzl", "rust_test")
load("@rules_rust_multiarch_rules_rust_probe//:probe.bzl", "RUST_TOOLCHAIN_TYPE")
load(":cpus.bzl", "ARCHITECTURES", "LEVELS")
load(":pack.bzl", "toolchain_target")
load(":transitions.bzl", "baseline_transition", "variants_split_transition")
load(":variants.bzl", "variant_specs")

# qemu-x86_64 CPU model that has exactly a level's features (qemu 7.2; as
# tests/e2e_bazel.sh test b checks: each level's build runs on its model and
# dies with SIGILL on the one below). No qemu 7.2 model emulates AVX-512.
QEMU_MODELS = {
    "v1": "qemu64",
    "v2": "Nehalem",
    "v3": "Haswell",
}

# The models tried, in this order, for a variant that is not a level.
QEMU_PROBE_MODELS = ["qemu64", "Nehalem", "Haswell", "max"]

_LevelTestsInfo = provider(
    doc = "The test built once per level (private).",
    fields = {
        "levels": "dict[str, str]: variant name -> its short level name, or \"\" for a variant that is not a level.",
        "names": "list[str]: the variant names, in the order given (levels: baseline first).",
        "features": "dict[str, File]: variant name -> `rustc --print cfg` for its flags (variants that are not levels).",
        "probe": "File or None: the feature probe (built for the baseline), when a variant is not a level.",
        "tests": "dict[str, File]: variant name -> its test executable (a symlink with a per-variant path).",
    },
)

def _per_variant_link(ctx, name, target, what):
    executable = target[DefaultInfo].files_to_run.executable
    if not executable:
        fail("attribute `{}`: {} builds no executable".format(what, target.label))

    # Every variant's build has the same runfiles path; a link per variant
    # keeps them apart.
    link = ctx.actions.declare_file("{}/{}/{}".format(ctx.label.name, name, executable.basename))
    ctx.actions.symlink(output = link, target_file = executable, is_executable = True)
    return link

def _print_cfg(ctx, spec):
    # The target features a variant's flags enable, as rustc reports them
    # (as `multiarch pack --rustc` asks it; DESIGN.md). rules_rust 0.73.0
    # ToolchainInfo: `rustc` and `rustc_lib` (rust/private/toolchain.bzl
    # :620-621), the triple via pack.bzl's toolchain_target.
    toolchain = ctx.toolchains[RUST_TOOLCHAIN_TYPE]
    triple, _ = toolchain_target(toolchain)
    if not triple:
        fail("the Rust toolchain for this target has no target triple: rust_multiarch_test needs one to ask rustc which features variant \"{}\" enables".format(spec.name))
    rustc_lib = getattr(toolchain, "rustc_lib", None) or depset()
    out = ctx.actions.declare_file("{}/{}.cfg".format(ctx.label.name, spec.name))
    args = ctx.actions.args()
    args.add_all(["--print", "cfg", "--target", triple])
    args.add_all(spec.rustc_flags)
    ctx.actions.run_shell(
        command = '"$1" "${@:3}" >"$2"',
        arguments = [toolchain.rustc.path, out.path, args],
        inputs = rustc_lib,
        tools = [toolchain.rustc],
        outputs = [out],
        mnemonic = "MultiarchVariantFeatures",
        progress_message = "Asking rustc which features variant {} of {} enables".format(spec.name, ctx.label),
    )
    return out

def _multiarch_test_builds_impl(ctx):
    arch = ARCHITECTURES.get(ctx.attr.arch)
    if not arch:
        fail("attribute `arch`: unknown architecture \"{}\"; known: {}".format(ctx.attr.arch, ", ".join(ARCHITECTURES.keys())))
    specs, error = variant_specs(ctx.attr.levels, ctx.attr.variants, ctx.attr.use_variants, arch)
    if error:
        fail(error)
    tests = {}
    features = {}
    runfiles = ctx.runfiles()
    for spec in specs:
        target = ctx.split_attr.test[spec.name]
        tests[spec.name] = _per_variant_link(ctx, spec.name, target, "test")
        runfiles = runfiles.merge(target[DefaultInfo].default_runfiles)
        if not spec.level:
            features[spec.name] = _print_cfg(ctx, spec)
    probe = ctx.executable.probe if features else None
    files = tests.values() + features.values() + ([probe] if probe else [])
    return [
        DefaultInfo(
            files = depset(files),
            runfiles = runfiles.merge(ctx.runfiles(files = files)),
        ),
        _LevelTestsInfo(
            features = features,
            levels = {spec.name: spec.level for spec in specs},
            names = [spec.name for spec in specs],
            probe = probe,
            tests = tests,
        ),
    ]

multiarch_test_builds = rule(
    doc = "Builds `test` once per variant (private; below rust_multiarch_test's baseline transition).",
    implementation = _multiarch_test_builds_impl,
    attrs = {
        "arch": attr.string(
            doc = "The architecture whose CPU and feature names the variants use (cpus.bzl ARCHITECTURES).",
            default = "x86_64",
        ),
        "levels": attr.string_list(
            doc = "Short level names (see rust_multiarch_test); used unless `use_variants`.",
            default = LEVELS,
        ),
        "probe": attr.label(
            doc = "The feature probe, built for the baseline (for variants that are not levels).",
            default = Label("//rules/private:variant_probe"),
            executable = True,
            cfg = "target",
        ),
        "test": attr.label(
            doc = "The rust_test to build once per variant.",
            cfg = variants_split_transition,
            mandatory = True,
        ),
        "use_variants": attr.bool(
            doc = "Whether the test declares `variants` (then `levels` must be empty).",
        ),
        "variants": attr.string_list_dict(
            doc = "Variant name -> its rustc flags (see rust_multiarch_binary).",
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    # Its rustc lists each variant's target features (_print_cfg).
    toolchains = [RUST_TOOLCHAIN_TYPE],
)

def _quote(value):
    return "'" + value.replace("'", "'\\''") + "'"

_RUNNER = """\
#!/bin/bash
# Generated by rules_rust_multiarch's rust_multiarch_test for {label}:
# runs its test once per variant (rules/private/test.bzl).
set -o nounset -o pipefail
label={label}
names=({names})
levels=({levels})
tests=({tests})
models=({models})
features=({features})
probe={probe}
probe_models=({probe_models})
qemu_attr={qemu}

tag="[multiarch_test]"
mode="${{MULTIARCH_TEST_QEMU:-auto}}"
case "$mode" in
auto | always | never) ;;
*)
    printf '%s error: MULTIARCH_TEST_QEMU=%q: allowed values are auto, always, never\\n' "$tag" "$mode" >&2
    exit 2
    ;;
esac

# The levels this CPU and OS run, as glibc's dynamic loader sees them.
declare -A native=([v1]=1)
oracle="glibc's ld.so"
help="$(/lib64/ld-linux-x86-64.so.2 --help 2>/dev/null || true)"
if [[ "$help" == *"Subdirectories of glibc-hwcaps directories"* ]]; then
    for n in 2 3 4; do
        [[ "$help" == *"x86-64-v$n (supported"* ]] && native[v$n]=1
    done
else
    # glibc before 2.33: the kernel's list of CPU flags (it lists the AVX
    # ones only when the OS enabled their state).
    oracle="/proc/cpuinfo"
    flags=""
    while IFS= read -r line; do
        if [[ "$line" == flags* ]]; then
            flags=" ${{line#*:}} "
            break
        fi
    done </proc/cpuinfo
    has() {{
        local f
        for f in "$@"; do
            [[ "$flags" == *" $f "* ]] || return 1
        done
    }}
    has cx16 lahf_lm popcnt pni sse4_1 sse4_2 ssse3 && native[v2]=1
    [[ -n "${{native[v2]:-}}" ]] && has avx avx2 bmi1 bmi2 f16c fma abm movbe xsave && native[v3]=1
    [[ -n "${{native[v3]:-}}" ]] && has avx512f avx512bw avx512cd avx512dq avx512vl && native[v4]=1
fi

qemu=""
if [[ -n "$qemu_attr" ]]; then
    qemu="$qemu_attr"
elif command -v qemu-x86_64 >/dev/null 2>&1; then
    qemu="$(command -v qemu-x86_64)"
fi

# probe_says FEATURES [RUNNER...]: 0 when the CPU (under RUNNER, e.g. qemu)
# has every feature rustc listed in FEATURES for a variant.
probe_says() {{
    local cfg="$1"
    shift
    {{ "$@" "$probe" "$cfg" >/dev/null 2>&1; }} 2>/dev/null
}}

failed=()
summary=()
for i in "${{!names[@]}}"; do
    name="${{names[$i]}}" level="${{levels[$i]}}" test="${{tests[$i]}}" model="${{models[$i]}}" cfg="${{features[$i]}}"
    runner=()
    how=""
    if [[ -n "$level" ]]; then
        here="${{native[$level]:-}}"
        oracle_here="$oracle"
    else
        here=""
        oracle_here="rustc's features for it, checked by the probe"
        probe_says "$cfg" && here=1
    fi
    if [[ -n "$here" ]]; then
        why="this CPU has it ($oracle_here)"
    else
        why="this CPU does not have it ($oracle_here)"
    fi
    if [[ -z "$level" && "$mode" != never && -n "$qemu" && ( -z "$here" || "$mode" == always ) ]]; then
        for m in "${{probe_models[@]}}"; do
            if probe_says "$cfg" "$qemu" -cpu "$m"; then
                model="$m"
                break
            fi
        done
    fi
    if [[ -n "$here" && ( "$mode" != always || -z "$model" ) ]]; then
        how="ran natively"
    elif [[ "$mode" == never ]]; then
        summary+=("$tag $name: skipped: $why and MULTIARCH_TEST_QEMU=never")
        continue
    elif [[ -z "$qemu" ]]; then
        summary+=("$tag $name: skipped: $why, MULTIARCH_TEST_QEMU=$mode, and qemu-x86_64 is not on PATH (install qemu-user, or give rust_multiarch_test a qemu)")
        continue
    elif [[ -z "$model" ]]; then
        summary+=("$tag $name: skipped: $why and qemu has no CPU model for it")
        continue
    else
        runner=("$qemu" -cpu "$model")
        how="ran under qemu-x86_64 -cpu $model"
    fi
    echo "$tag $name: $how: ${{runner[*]}}${{runner[*]:+ }}$test${{*:+ }}$*"
    "${{runner[@]}}" "$test" "$@"
    status=$?
    if [[ "$status" == 0 ]]; then
        summary+=("$tag $name: passed, $how")
    else
        summary+=("$tag $name: FAILED (exit $status), $how")
        failed+=("$name")
    fi
done

printf '%s\\n' "${{summary[@]}}"
if [[ "${{#failed[@]}}" -gt 0 ]]; then
    echo "$tag $label failed at: ${{failed[*]}}"
    exit 1
fi
echo "$tag $label passed at every variant that ran"
"""

def _multiarch_test_impl(ctx):
    builds = ctx.attr.builds[0] if type(ctx.attr.builds) == "list" else ctx.attr.builds
    info = builds[_LevelTestsInfo]
    qemu = ""
    runfiles = ctx.runfiles().merge(builds[DefaultInfo].default_runfiles)
    if ctx.attr.qemu:
        qemu = ctx.executable.qemu.short_path
        runfiles = runfiles.merge(ctx.runfiles(files = [ctx.executable.qemu]))
        runfiles = runfiles.merge(ctx.attr.qemu[DefaultInfo].default_runfiles)
    runner = ctx.actions.declare_file(ctx.label.name + ".multiarch_test.sh")
    ctx.actions.write(
        runner,
        _RUNNER.format(
            label = _quote(str(ctx.label)),
            names = " ".join([_quote(name) for name in info.names]),
            levels = " ".join([_quote(info.levels[name]) for name in info.names]),
            # Relative to the test's working directory, the main repository's
            # runfiles tree (other repositories' files are at ../<repo>/).
            tests = " ".join([_quote(info.tests[name].short_path) for name in info.names]),
            models = " ".join([_quote(QEMU_MODELS.get(info.levels[name], "")) for name in info.names]),
            features = " ".join([_quote(info.features[name].short_path if name in info.features else "") for name in info.names]),
            probe = _quote(info.probe.short_path if info.probe else ""),
            probe_models = " ".join([_quote(model) for model in QEMU_PROBE_MODELS]),
            qemu = _quote(qemu),
        ),
        is_executable = True,
    )
    return [
        DefaultInfo(
            executable = runner,
            files = depset([runner]),
            runfiles = runfiles,
        ),
        testing.TestEnvironment(ctx.attr.env),
    ]

multiarch_test = rule(
    doc = "Runs a test built once per level, natively or under qemu (private; see rust_multiarch_test).",
    implementation = _multiarch_test_impl,
    attrs = {
        "builds": attr.label(
            doc = "The multiarch_test_builds target.",
            cfg = baseline_transition,
            providers = [_LevelTestsInfo],
            mandatory = True,
        ),
        "env": attr.string_dict(
            doc = "Environment of every level's test run (rust_test's `env`).",
        ),
        "platform": attr.label(
            doc = "The test's `platform` (rust_test's), or None; read by the baseline transition.",
        ),
        "qemu": attr.label(
            doc = "A qemu-x86_64 executable; default: `qemu-x86_64` on the test's PATH.",
            executable = True,
            cfg = "target",
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    test = True,
)

# Attributes of the test rule itself, not of the rust_test built per level.
_RUNNER_KWARGS = ["args", "exec_properties", "flaky", "local", "shard_count", "size", "timeout"]

def rust_multiarch_test(name, levels = None, variants = None, qemu = None, **kwargs):
    """A Rust test run once per variant (x86-64 level): each build natively or under qemu.

    Takes the attributes of rules_rust's `rust_test` (`srcs`, `deps`,
    `crate`, `env`, `data`, `rustc_flags`, ...) and builds the test once per
    level, as `rust_multiarch_binary` builds a program (each crate of its
    graph gets `-Ctarget-cpu=x86-64[-vN]`; `select()` on
    `@rules_rust_multiarch//rules/settings:v1` ... `:v4` works). Running the
    test (`bazel test`) runs every level's build: natively where this CPU has
    the level (glibc's `ld.so --help`), under `qemu-x86_64 -cpu qemu64`
    (v1), `Nehalem` (v2) or `Haswell` (v3) where it does not, and skips a
    level it cannot run (no qemu; v4 without AVX-512: qemu 7.2 has no such
    model), printing one line per level. The test fails when any level's
    test fails, naming the levels. `--test_env=MULTIARCH_TEST_QEMU=always`
    runs every level that has a qemu model under qemu, `never` under none.

    With `variants` (as rust_multiarch_binary's), each variant is built and
    run; one that is not a level is run natively where this CPU has every
    target feature rustc says its flags enable (a small probe checks them),
    else under the first qemu model (qemu64, Nehalem, Haswell, max) that
    has them.

    Targets created: `<name>.variant` (the rust_test, tagged manual),
    `<name>.levels` (its per-variant builds, manual) and `<name>` (the test).

    Example:

        load("@rules_rust_multiarch//rules:defs.bzl", "rust_multiarch_test")

        rust_multiarch_test(
            name = "math_test",
            crate = ":math",
            levels = ["v1", "v3"],
        )

    Args:
      name: str, the test target's name.
      levels: list[str], the levels to build and run, any subset of "v1",
        "v2", "v3", "v4" that contains "v1" (as rust_multiarch_binary's);
        default: the four, unless `variants` is given.
      variants: dict[str, list[str]], exclusive with `levels`: variant name
        -> `multiarch_variant(cpu = ..., features = [...])`, as
        rust_multiarch_binary's.
      qemu: Label or None, a `qemu-x86_64` executable target to run levels
        above the CPU with (a declared input, for remote execution); default:
        `qemu-x86_64` on the test's PATH.
      **kwargs: attributes of `rust_test`. `args`, `size`, `timeout`,
        `flaky`, `shard_count`, `local` and `exec_properties` apply to the
        test run; `env` to every level's run; `tags`, `visibility` and
        `testonly` to the test target (the internal targets get the tags
        plus `manual`); `target_compatible_with` to every target, with
        x86-64 Linux added to the internal ones.
    """
    visibility = kwargs.pop("visibility", None)
    tags = kwargs.pop("tags", None) or []
    user_compatible_with = kwargs.pop("target_compatible_with", None) or []
    runner_kwargs = {key: kwargs.pop(key) for key in _RUNNER_KWARGS if key in kwargs}
    env = kwargs.get("env", {})

    # The inner target is not called `name`: its crate is, as a rust_test
    # named `name` would be (`crate_name` is an attribute of every rules_rust
    # rule: 0.73.0 rust/private/rust.bzl:745, 0.7.0 :525).
    kwargs["crate_name"] = kwargs.get("crate_name") or name.replace("-", "_")
    internal = dict(
        tags = ["manual"] + [tag for tag in tags if tag != "manual"],
        target_compatible_with = user_compatible_with + [
            Label("@platforms//cpu:x86_64"),
            Label("@platforms//os:linux"),
        ],
        visibility = ["//visibility:private"],
    )
    rust_test(
        name = name + ".variant",
        **dict(kwargs, **internal)
    )
    multiarch_test_builds(
        name = name + ".levels",
        # As rust_multiarch_binary passes them to multiarch_pack.
        levels = (levels or []) if variants != None else (LEVELS if levels == None else levels),
        use_variants = variants != None,
        variants = variants,
        test = ":{}.variant".format(name),
        testonly = True,
        **internal
    )
    multiarch_test(
        name = name,
        builds = ":{}.levels".format(name),
        env = env,
        platform = kwargs.get("platform"),
        qemu = qemu,
        tags = tags,
        target_compatible_with = user_compatible_with,
        visibility = visibility,
        **runner_kwargs
    )
