//! The launcher of a rules_rust_multiarch bundle.
//!
//! A bundle is this launcher plus several builds of one program, each for an
//! x86-64 level. At start the launcher detects the CPU's level, picks the
//! highest embedded build that the CPU runs, and execs it as the same process:
//! from a per-user cache file after the first run, or from a sealed memfd.
//!
//! `multiarch pack` writes the crate root of a bundle: a `static` [`Bundle`]
//! and a call of [`entry!`]. The environment variables it obeys, the log line
//! and the exit code are documented in the repository's README.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

pub mod bundle;
pub mod codec;
pub mod detect;
pub mod env;
pub mod exec_linux;
pub mod level;
pub mod meta;
pub mod select;

pub use bundle::{Blob, Bundle, Compression, PageAligned, Variant};
pub use level::Level;

use core::ffi::{c_char, c_int, CStr};
use env::{Config, ExecMode};
use exec_linux::{Args, Cache, ExecError, Lookup};
use std::io::Write;

/// The exit status of every launcher failure, as `env(1)` uses for a
/// command that was found but could not be run.
pub const EXIT_FAILURE: c_int = 126;

/// Defines the C `main` of a bundle, which calls [`main`] with `$bundle`.
#[macro_export]
macro_rules! entry {
    ($bundle:expr) => {
        #[no_mangle]
        extern "C" fn main(
            argc: ::core::ffi::c_int,
            argv: *const *const ::core::ffi::c_char,
            envp: *const *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int {
            // SAFETY: called once, by the C runtime, with its own argv and envp.
            unsafe { $crate::main(&$bundle, argc, argv, envp) }
        }
    };
}

/// Runs the launcher: starts the chosen build and returns only on failure,
/// with [`EXIT_FAILURE`], or with 0 after `MULTIARCH_DEBUG=extract`.
///
/// It is called from a C `main` (see [`entry!`]) rather than Rust's, so that
/// std's runtime never changes a signal disposition the program should inherit
/// (std ignores SIGPIPE) and the start costs nothing it does not need.
///
/// # Safety
/// `argv` and `envp` must be the NULL-terminated arrays that the C runtime
/// passed to `main`, and `argc` the length of `argv`.
pub unsafe fn main(
    bundle: &'static Bundle,
    argc: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: forwarded from this function's own contract.
    let env = unsafe { c_array(envp) };
    // Only argv[0] is read (for a memfd's name); the array goes to execve as is.
    let argv0 = if argc > 0 && !argv.is_null() {
        // SAFETY: argc > 0, so argv[0] is a NUL-terminated string (or NULL).
        let p = unsafe { *argv };
        // SAFETY: a non-NULL argv entry is a NUL-terminated string that lives on.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
    } else {
        None
    };
    match run(bundle, Args { argv, envp }, &env, argv0) {
        Ok(()) => 0,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "[multiarch] error: {message}");
            EXIT_FAILURE
        }
    }
}

/// The entries of a NULL-terminated array of C strings.
///
/// # Safety
/// `array` must be NULL or point to a NULL-terminated array of pointers to
/// NUL-terminated strings that live for the rest of the process.
unsafe fn c_array(array: *const *const c_char) -> Vec<&'static [u8]> {
    let mut out = Vec::new();
    if array.is_null() {
        return out;
    }
    for i in 0.. {
        // SAFETY: the array is NULL-terminated and we stop at the NULL.
        let p = unsafe { *array.add(i) };
        if p.is_null() {
            break;
        }
        // SAFETY: each non-NULL entry is a NUL-terminated string that lives on.
        out.push(unsafe { CStr::from_ptr(p) }.to_bytes());
    }
    out
}

/// Whether the kernel started us in secure mode (setuid, setgid, file
/// capabilities): then the environment is not the caller's to steer.
fn secure_mode() -> bool {
    // SAFETY: getauxval reads the auxiliary vector; it has no preconditions.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// How the build was started, for the log line.
enum Via {
    Cache,
    NewCacheEntry,
    Memfd,
}

fn run(bundle: &'static Bundle, args: Args, env: &[&[u8]], argv0: Option<&[u8]>) -> Result<(), String> {
    let secure = secure_mode();
    let config = if secure {
        Config::default()
    } else {
        Config::from_env(env.iter().copied()).map_err(|e| e.to_string())?
    };
    let cpu = detect::detect();
    let mut request = config.request;
    // Extracting never runs the build, so any embedded level may be asked for.
    request.force |= config.extract;
    let choice = select::select(cpu, request, bundle.levels()).map_err(|e| e.to_string())?;
    let variant = bundle
        .variant(choice.level)
        .ok_or_else(|| format!("internal error: {} selected but not embedded", choice.level))?;

    let mut notes = String::new();
    if let Some(asked) = choice.fell_back_from {
        notes.push_str(&format!("; MULTIARCH_LEVEL={} not embedded", asked.short_name()));
    }
    if choice.above_cpu && !config.extract {
        notes.push_str("; forced above cpu");
    }
    let log = |verb: &str, via: Option<Via>, extra: &str| {
        if !config.log {
            return;
        }
        let mut embedded: Vec<_> = bundle.levels().map(Level::short_name).collect();
        embedded.sort_unstable();
        let via = match via {
            None => String::new(),
            Some(Via::Cache) => "; via cache".into(),
            Some(Via::NewCacheEntry) => "; via cache, written now".into(),
            Some(Via::Memfd) => "; via memfd".into(),
        };
        let _ = writeln!(
            std::io::stderr(),
            "[multiarch] {verb} {} (cpu {cpu}; embedded {}{via}{notes}{extra})",
            choice.level,
            embedded.join(" "),
        );
    };

    if config.extract {
        log("extracting", None, "");
        return extract(variant.blob);
    }

    let mode = if secure { ExecMode::Memfd } else { config.exec };
    let memfd = |extra: &str| {
        let name = exec_linux::memfd_name(argv0, bundle.program, choice.level.cpu_name());
        log("starting", Some(Via::Memfd), extra);
        exec_linux::exec_memfd(variant.blob, &name, args)
    };
    let cache_err = match mode {
        ExecMode::Memfd => return Err(memfd("").to_string()),
        ExecMode::Cache | ExecMode::Auto => {
            match try_cache(bundle, variant.blob, env, args, |via| log("starting", Some(via), "")) {
                Ok(never) => match never {},
                Err(e) => e,
            }
        }
    };
    if mode == ExecMode::Cache {
        return Err(format!("{cache_err} (MULTIARCH_EXEC=cache; unset it to fall back to a memfd)"));
    }
    let reason = match &cache_err {
        ExecError::Cache(why) => why.clone(),
        other => other.to_string(),
    };
    let memfd_err = memfd(&format!("; cache unusable: {reason}"));
    Err(format!("could not start {}: tried the cache ({cache_err}) and a memfd ({memfd_err})", choice.level))
}

/// Starts `blob` from the cache, writing the entry first if needed.
fn try_cache(
    bundle: &'static Bundle,
    blob: &'static Blob,
    env: &[&[u8]],
    args: Args,
    log: impl Fn(Via),
) -> Result<core::convert::Infallible, ExecError> {
    let root = exec_linux::cache_root(env.iter().copied())
        .ok_or_else(|| ExecError::Cache("neither XDG_CACHE_HOME nor HOME is an absolute path".into()))?;
    let cache = Cache::new(root);
    let err = match cache.lookup(blob, bundle.program)? {
        Lookup::Hit(path) => {
            exec_linux::check_executable(&path)?;
            log(Via::Cache);
            match exec_linux::exec_path(&path, args) {
                // Removed by another version between lookup and exec: rewrite it.
                ExecError::Exec { errno: nix::errno::Errno::ENOENT, .. } => None,
                e => Some(e),
            }
        }
        Lookup::Miss => None,
    };
    if let Some(e) = err {
        return Err(e);
    }
    let path = cache.install(bundle, blob)?;
    exec_linux::check_executable(&path)?;
    log(Via::NewCacheEntry);
    Err(exec_linux::exec_path(&path, args))
}

/// Writes the decoded build to stdout. A reader that goes away early is not
/// an error: `multiarch ... | head -c 4` exits 0.
fn extract(blob: &Blob) -> Result<(), String> {
    // SAFETY: setting a disposition to SIG_IGN installs no handler; this
    // process execs nothing afterwards, so the change reaches no program.
    let _ = unsafe {
        nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn)
    };
    let mut out = std::io::stdout().lock();
    let bytes = blob.decode().map_err(|e| ExecError::Damaged(e).to_string())?;
    let written = out.write_all(&bytes).and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("cannot write the build to stdout: {e}")),
    }
}
