//! The launcher of a rules_rust_multiarch bundle.
//!
//! A bundle is this launcher plus several builds of one program, its
//! *variants*: each a name, the rustc codegen flags that made it
//! (`-Ctarget-cpu`, `-Ctarget-feature`) and the CPU features those flags let
//! the build use. At start the launcher detects the features of the CPU and
//! OS ([`arch`]), starts the first variant, in the bundle's order (best
//! first), whose required features are all there ([`select`]), and execs it
//! as the same process: from a per-user cache file after the first run, or
//! from a sealed memfd.
//!
//! `multiarch pack` writes the crate root of a bundle: a `static` [`Bundle`]
//! and a call of [`entry!`]. The environment variables it obeys, the log line
//! and the exit code are documented in the repository's README.
//!
//! Module map: [`features`] (feature sets, architecture-neutral), [`arch`]
//! (per-architecture feature tables and detection), [`level`] (the psABI
//! levels as feature sets), [`select`] (the choice), [`mod@env`] (the
//! `MULTIARCH_*` variables), [`bundle`] (the embedded table and blobs),
//! [`codec`] and [`check`] (decoding and checking builds), [`cache`],
//! [`exec_linux`], [`walk`], [`tmpfile`] and [`writer`] (starting them),
//! [`sys`], [`rt`] and [`text`] (the runtime without std).

//! The launcher links neither std nor a C library (see [`sys`]): it adds
//! about 120 KB to a bundle built by Cargo (137 KB by Bazel, without
//! cross-crate LTO), statically linked, where a std one was 0.44 MB
//! dynamic or 1.2 MB static. [`entry!`] supplies the pieces a
//! program without a C runtime needs: `_start`, the `mem*` functions and the
//! panic handler.

#![cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), target_os = "linux"))]
#![cfg_attr(not(test), no_std)]
// With no heap, paths and messages are fixed-size buffers held by value:
// errors are large, but made only on the failure path, once per start.
#![allow(clippy::large_enum_variant, clippy::result_large_err)]

pub mod arch;
pub mod bundle;
pub mod cache;
pub mod check;
pub mod codec;
pub mod env;
pub mod exec_linux;
pub mod features;
pub mod level;
#[doc(hidden)]
pub mod rt;
pub mod select;
pub mod sys;
pub mod text;
pub mod tmpfile;
pub mod walk;
pub mod writer;

pub use bundle::{Blob, Bundle, Compression, PageAligned, Variant};
pub use features::FeatureSet;
pub use level::Level;

use core::fmt::Write as _;
use env::{Config, ExecMode};
use exec_linux::{Args, Cache, ExecError, Lookup, Message};
use sys::Errno;
use text::Buf;

/// The exit status of every launcher failure, as `env(1)` uses for a
/// command that was found but could not be run.
pub const EXIT_FAILURE: i32 = 126;

/// Defines the entry point of a bundle, which starts [`main`] with `$bundle`.
///
/// The crate that calls it must be `#![no_std]` and `#![no_main]`, built with
/// `-Cpanic=abort`, and linked with `-nostartfiles`: the macro defines
/// `_start`, the `memcpy`/`memmove`/`memset`/`memcmp`/`bcmp`/`strlen` that compiled
/// code calls, and the panic handler. With `-Ctarget-feature=+crt-static` the
/// result is a static PIE that applies its own relocations at start; without,
/// a PIE that the dynamic loader relocates but that loads no library.
#[macro_export]
macro_rules! entry {
    ($bundle:expr) => {
        #[cfg(target_feature = "crt-static")]
        ::core::arch::global_asm!(
            $crate::__start_asm!(true),
            start = sym __multiarch_start,
        );
        #[cfg(not(target_feature = "crt-static"))]
        ::core::arch::global_asm!(
            $crate::__start_asm!(false),
            start = sym __multiarch_start,
        );

        extern "C" fn __multiarch_start(sp: *const usize) -> ! {
            // SAFETY: `_start` passes the initial stack pointer the kernel set.
            unsafe { $crate::rt::start(&$bundle, sp) }
        }

        #[panic_handler]
        fn __multiarch_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::rt::panic(info)
        }

        // Crates compiled to unwind (the precompiled `core`; the launcher
        // crate under Bazel, where the CLI links it too) name the unwinder's
        // entry points in their cleanup paths. The binary aborts on panic, so
        // nothing ever unwinds and these are never called.
        #[no_mangle]
        extern "C" fn rust_eh_personality() {}
        #[no_mangle]
        extern "C" fn _Unwind_Resume() -> ! {
            $crate::sys::exit($crate::EXIT_FAILURE)
        }

        $crate::__mem_functions!();
        $crate::__arch_symbols!();
    };
}

/// Runs the launcher: starts the chosen build and returns only on failure,
/// with [`EXIT_FAILURE`], or with 0 after `MULTIARCH_DEBUG=extract`.
///
/// # Safety
/// `argv` and `envp` must be the NULL-terminated arrays the kernel put on the
/// initial stack (the auxiliary vector follows `envp`), `argc` the length of
/// `argv`.
pub unsafe fn main(
    bundle: &'static Bundle,
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
) -> i32 {
    // SAFETY: forwarded from this function's own contract.
    let env = unsafe { rt::CStrings::new(envp) };
    // Only argv[0] is read (for a memfd's name); the array goes to execve as is.
    // SAFETY: as above; argv has argc entries before its NULL.
    let argv0 = if argc > 0 { unsafe { rt::CStrings::new(argv) }.next() } else { None };
    // SAFETY: as above.
    let secure = unsafe { sys::secure_mode(envp) };
    match run(bundle, Args { argv, envp }, env, argv0, secure) {
        Ok(()) => 0,
        Err(message) => {
            let mut line = Buf::<1200>::new();
            let _ = writeln!(line, "[multiarch] error: {message}");
            let _ = sys::write_all(2, line.as_bytes());
            EXIT_FAILURE
        }
    }
}

/// How the build was started, for the log line.
#[derive(Clone, Copy)]
enum Via {
    Cache,
    NewCacheEntry,
    Memfd,
}

fn run(
    bundle: &'static Bundle,
    args: Args,
    env: rt::CStrings,
    argv0: Option<&[u8]>,
    secure: bool,
) -> Result<(), Message> {
    let config = if secure {
        Config::default()
    } else {
        Config::from_env(env.clone()).map_err(|e| bformat!(1024, "{e}"))?
    };
    let cpu = arch::native::detect();
    let mut request = config.request;
    // Extracting never runs the build, so any embedded variant may be asked for.
    request.force |= config.extract;
    let choice = select::select(cpu, request, bundle.variants).map_err(|e| bformat!(1024, "{e}"))?;
    let variant = &bundle.variants[choice.index];

    let mut notes = Buf::<1024>::new();
    if let (Some(_), Some(asked)) = (choice.fell_back_from, request.name) {
        let _ = write!(notes, "; MULTIARCH_LEVEL={asked} not embedded");
    }
    if !choice.forced_missing.is_empty() && !config.extract {
        let _ = write!(
            notes,
            "; forced above cpu, which lacks {}",
            choice.forced_missing.names(arch::native::name, " ")
        );
    }
    let log = |verb: &str, via: Option<Via>, extra: &dyn core::fmt::Display| {
        if !config.log {
            return;
        }
        let mut line = Buf::<4096>::new();
        let _ = write!(
            line,
            "[multiarch] {verb} {} (cpu {}; embedded {}",
            variant.name,
            arch::CpuName(cpu),
            select::Embedded(bundle.variants)
        );
        line.push(match via {
            None => b"",
            Some(Via::Cache) => b"; via cache",
            Some(Via::NewCacheEntry) => b"; via cache, written now",
            Some(Via::Memfd) => b"; via memfd",
        });
        let _ = write!(line, "{notes}{extra}");
        // Why each better variant was not started.
        if choice.automatic {
            for (n, over) in bundle.variants[..choice.index].iter().enumerate() {
                let _ = write!(
                    line,
                    "{} {} (lacks {})",
                    if n == 0 { "; passed over" } else { "," },
                    over.name,
                    cpu.missing(over.requires).names(arch::native::name, " ")
                );
            }
        }
        let _ = writeln!(line, ")");
        let _ = sys::write_all(2, line.as_bytes());
    };

    if config.extract {
        log("extracting", None, &"");
        return extract(variant.blob);
    }

    let mode = if secure { ExecMode::Memfd } else { config.exec };
    let memfd = |extra: &dyn core::fmt::Display| {
        let name = exec_linux::memfd_name(argv0, bundle.program, variant.name);
        // Logged only once the memfd is ready: a start that fails before
        // prints its error line alone.
        let before_exec = || log("starting", Some(Via::Memfd), extra);
        match name.as_cstr() {
            Some(name) => exec_linux::exec_memfd(variant.blob, name, args, &before_exec),
            None => ExecError::Memfd(bformat!(1024, "bad memfd name")),
        }
    };
    let cache_err = match mode {
        ExecMode::Memfd => return Err(bformat!(1024, "{}", memfd(&""))),
        ExecMode::Cache | ExecMode::Auto => {
            match try_cache(bundle, variant.blob, env, args, |via| log("starting", Some(via), &"")) {
                Ok(never) => match never {},
                Err(e) => e,
            }
        }
    };
    // A damaged build is as damaged in a memfd: say so once, without a
    // second decode.
    if let ExecError::Decode(e) = &cache_err {
        return Err(bformat!(1024, "{e}"));
    }
    if mode == ExecMode::Cache {
        return Err(bformat!(1024, "{cache_err} (MULTIARCH_EXEC=cache; unset it to fall back to a memfd)"));
    }
    let reason = match &cache_err {
        ExecError::Cache(why) => bformat!(1024, "{why}"),
        other => bformat!(1024, "{other}"),
    };
    let memfd_err = memfd(&format_args!("; cache unusable: {reason}"));
    Err(bformat!(
        1024,
        "could not start {}: tried the cache ({cache_err}) and a memfd ({memfd_err})",
        variant.name
    ))
}

/// Starts `blob` from the cache, writing the entry first if needed.
fn try_cache(
    bundle: &'static Bundle,
    blob: &'static Blob,
    env: rt::CStrings,
    args: Args,
    log: impl Fn(Via),
) -> Result<core::convert::Infallible, ExecError> {
    let root = exec_linux::cache_root(env).ok_or_else(|| {
        ExecError::Cache(bformat!(1024, "neither XDG_CACHE_HOME nor HOME is an absolute path"))
    })?;
    let cache = Cache::new(root);
    let entry = match cache.lookup(blob, bundle.program)? {
        Lookup::Hit(entry) => {
            exec_linux::check_executable(&entry)?;
            log(Via::Cache);
            // The descriptor is run, so a rename or removal of the entry
            // after the lookup changes nothing.
            return Err(exec_linux::exec_entry(&entry, args));
        }
        Lookup::Miss => cache.install(bundle, blob)?,
    };
    exec_linux::check_executable(&entry)?;
    log(Via::NewCacheEntry);
    Err(exec_linux::exec_entry(&entry, args))
}

/// Writes the decoded build to stdout. A reader that goes away early is not
/// an error: `multiarch ... | head -c 4` exits 0.
fn extract(blob: &Blob) -> Result<(), Message> {
    // Setting a disposition to SIG_IGN installs no handler; this process
    // execs nothing afterwards, so the change reaches no program.
    sys::ignore_sigpipe();
    let bytes = blob.decode().map_err(|e| bformat!(1024, "{e}"))?;
    match sys::write_all(1, bytes.as_bytes()) {
        Ok(()) | Err(Errno::EPIPE) => Ok(()),
        Err(e) => Err(bformat!(1024, "cannot write the build to stdout: {e}")),
    }
}
