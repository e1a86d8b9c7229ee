//! The harness of the launcher's integration tests: builds the fixtures once
//! per run (`tests/build_fixtures.sh`), gives each test its own HOME and
//! XDG_CACHE_HOME, runs bundles and payloads, and parses what the payload's
//! `report` mode prints.

#![allow(dead_code)]

use multiarch_launcher::Level;
use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

mod cargo_target;

pub use cargo_target::{repo_root, target_dir};

/// The bundles `tests/build_fixtures.sh` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bundle {
    /// v1 to v4, statically linked.
    Full,
    /// v1 to v4, dynamically linked.
    Dynamic,
    /// v1 and v3 only, statically linked.
    V1V3,
    /// Variants `x86-64`, `x86-64-v3`, `znver4`, `sapphirerapids`, packed
    /// with `--rustc` (issue 12). Its level variants are v1 and v3.
    Fleet,
}

/// The variants of [`Bundle::Fleet`], in the order given to `pack`, with
/// their `-Ctarget-cpu`.
pub const FLEET: [(&str, &str); 4] = [
    ("x86-64", "x86-64"),
    ("x86-64-v3", "x86-64-v3"),
    ("znver4", "znver4"),
    ("sapphirerapids", "sapphirerapids"),
];

impl Bundle {
    /// The name of the bundle's directory and file.
    pub fn name(self) -> &'static str {
        match self {
            Bundle::Full => "full",
            Bundle::Dynamic => "dynamic",
            Bundle::V1V3 => "v1v3",
            Bundle::Fleet => "fleet",
        }
    }

    /// The file name of its cache entries.
    pub fn program(self) -> String {
        format!("payload_{}", self.name())
    }

    /// The levels it embeds, lowest first.
    pub fn levels(self) -> Vec<Level> {
        match self {
            Bundle::Full | Bundle::Dynamic => Level::ALL.to_vec(),
            Bundle::V1V3 | Bundle::Fleet => vec![Level::V1, Level::V3],
        }
    }

    /// The level it starts for a target level: the highest embedded not above it.
    pub fn pick(self, target: Level) -> Level {
        self.levels().into_iter().filter(|&l| l <= target).max().expect("every bundle embeds v1")
    }
}

/// Where the fixtures are.
#[derive(Debug)]
pub struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    /// `payload-<level>`: the payload built for `level`.
    pub fn payload(&self, level: Level) -> PathBuf {
        self.variant_payload(level.cpu_name())
    }

    /// `payload-<name>`: the payload built as variant `name`.
    pub fn variant_payload(&self, name: &str) -> PathBuf {
        self.dir.join(format!("payload-{name}"))
    }

    /// A file of the fixtures directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The bundle's executable.
    pub fn bundle(&self, bundle: Bundle) -> PathBuf {
        self.dir.join(bundle.name()).join(bundle.name())
    }
}

/// The fixtures, built by the first caller of this test run. A file lock
/// keeps concurrent test runs (or benchmarks) from building them at once.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = repo_root();
        let dir = target_dir().join("fixtures");
        fs::create_dir_all(&dir).expect("create <target>/fixtures");
        let lock = fs::File::create(target_dir().join("fixtures.lock")).expect("create the fixture lock");
        // SAFETY: flock on a descriptor this function owns; released when `lock` closes.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
        let started = std::time::Instant::now();
        let out = Command::new("bash")
            .arg(root.join("tests/build_fixtures.sh"))
            .arg(&dir)
            .env_remove("RUSTFLAGS")
            .output()
            .expect("run tests/build_fixtures.sh");
        assert!(
            out.status.success(),
            "tests/build_fixtures.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("fixtures built in {:.1?}", started.elapsed());
        drop(lock);
        Fixtures { dir }
    })
}

/// The level of this host, from std's feature detection (which also checks
/// that the OS enabled the AVX state), independent of the launcher's cpuid code.
pub fn host_level() -> Level {
    level_from_std()
}

/// Whether std's run-time detection (independent of the launcher's CPUID
/// code; it checks the OS's XCR0 state too) finds target feature `name`;
/// `None` for a feature std cannot detect on stable Rust.
pub fn std_has(name: &str) -> Option<bool> {
    macro_rules! detect {
        ($($f:tt)*) => {
            match name {
                $($f => Some(is_x86_feature_detected!($f)),)*
                "lahfsahf" => Some(lahf_sahf_from_cpuid()),
                _ => None,
            }
        };
    }
    detect!(
        "adx" "aes" "avx" "avx2" "avx512bf16" "avx512bitalg" "avx512bw" "avx512cd" "avx512dq" "avx512f"
        "avx512fp16" "avx512ifma" "avx512vbmi" "avx512vbmi2" "avx512vl" "avx512vnni" "avx512vp2intersect"
        "avx512vpopcntdq" "avxifma" "avxneconvert" "avxvnni" "avxvnniint16" "avxvnniint8" "bmi1" "bmi2"
        "cmpxchg16b" "f16c" "fma" "gfni" "lzcnt" "movbe" "pclmulqdq" "popcnt" "rdrand" "rdseed" "sha"
        "sha512" "sm3" "sm4" "sse3" "sse4.1" "sse4.2" "sse4a" "ssse3" "tbm" "vaes" "vpclmulqdq" "xsave"
        "xsavec" "xsaveopt" "xsaves" "kl" "widekl" "rtm" "ermsb"
    )
}

/// The level that std's run-time feature detection implies: a second
/// opinion, independent of the launcher's CPUID code, which the tests
/// (and anyone doubting a detection) compare `detect::detect` against.
pub fn level_from_std() -> Level {
    let v2 = is_x86_feature_detected!("cmpxchg16b")
        && is_x86_feature_detected!("popcnt")
        && is_x86_feature_detected!("sse3")
        && is_x86_feature_detected!("ssse3")
        && is_x86_feature_detected!("sse4.1")
        && is_x86_feature_detected!("sse4.2")
        && lahf_sahf_from_cpuid();
    let v3 = v2
        && is_x86_feature_detected!("avx")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("bmi1")
        && is_x86_feature_detected!("bmi2")
        && is_x86_feature_detected!("f16c")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("lzcnt")
        && is_x86_feature_detected!("movbe");
    let v4 = v3
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512cd")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512vl");
    match (v2, v3, v4) {
        (_, _, true) => Level::V4,
        (_, true, _) => Level::V3,
        (true, _, _) => Level::V2,
        _ => Level::V1,
    }
}

/// The target features rustc enables for `-Ctarget-cpu=cpu` on x86-64
/// (`RUSTC_BOOTSTRAP=1 rustc --print cfg`, unstable ones included), less
/// those every x86-64 CPU has: what a build for `cpu` may use.
pub fn rustc_features(cpu: &str) -> Vec<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "cfg", "--target", "x86_64-unknown-linux-gnu"])
        .arg(format!("-Ctarget-cpu={cpu}"))
        .env("RUSTC_BOOTSTRAP", "1")
        .output()
        .expect("run rustc --print cfg");
    assert!(out.status.success(), "rustc --print cfg -Ctarget-cpu={cpu}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("target_feature=\"")?.strip_suffix('"'))
        .filter(|f| !["x87", "fxsr", "sse", "sse2", "crt-static"].contains(f))
        .map(str::to_owned)
        .collect()
}

/// What this host lacks of the features a build for `-Ctarget-cpu=cpu`
/// may use: rustc's list, checked with std's detection, or with CPUID
/// and XGETBV directly for the few std does not detect on stable Rust
/// (AMX, PREFETCHW). Sorted by name, as the launcher lists them.
pub fn host_lacks(cpu: &str) -> Vec<String> {
    let mut lacks: Vec<String> = rustc_features(cpu)
        .into_iter()
        .filter(|f| !std_has(f).or_else(|| cpuid_has(f)).unwrap_or_else(|| panic!("cannot check {f}")))
        .collect();
    lacks.sort();
    lacks
}

/// Features std cannot detect on stable Rust, from CPUID (Intel SDM Vol. 2A
/// Table 3-8: leaf 07H EDX bits 22, 24, 25; AMD APM Vol. 3 E.4.2: 8000_0001H
/// ECX bit 8) and, for AMX, the OS's XTILECFG and XTILEDATA state (XCR0
/// bits 17 and 18).
// `__cpuid_count` is a safe function since Rust 1.87 and unsafe before.
#[allow(unused_unsafe)]
fn cpuid_has(name: &str) -> Option<bool> {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID is available on every x86-64 CPU.
    let max = unsafe { __cpuid(0) }.eax;
    // SAFETY: as above.
    let leaf7 = if max >= 7 { unsafe { __cpuid_count(7, 0) } } else { unsafe { __cpuid(0) } };
    let leaf7_edx = if max >= 7 { leaf7.edx } else { 0 };
    let amx_state = || {
        // SAFETY: as above.
        let osxsave = unsafe { __cpuid(1) }.ecx & (1 << 27) != 0;
        // SAFETY: XGETBV does not fault once CPUID reports OSXSAVE.
        osxsave && unsafe { xgetbv0() } & 0x6_0000 == 0x6_0000
    };
    Some(match name {
        "amx-bf16" => leaf7_edx & (1 << 22) != 0 && amx_state(),
        "amx-tile" => leaf7_edx & (1 << 24) != 0 && amx_state(),
        "amx-int8" => leaf7_edx & (1 << 25) != 0 && amx_state(),
        "prfchw" => {
            // SAFETY: as above.
            let ext = unsafe { __cpuid(0x8000_0000) }.eax;
            // SAFETY: as above; the leaf was checked to exist.
            ext >= 0x8000_0001 && unsafe { __cpuid(0x8000_0001) }.ecx & (1 << 8) != 0
        }
        _ => return None,
    })
}

/// XCR0, with the `xgetbv` instruction.
///
/// # Safety
/// CPUID must report OSXSAVE.
unsafe fn xgetbv0() -> u64 {
    let (eax, edx): (u32, u32);
    // SAFETY: the caller checked OSXSAVE; XGETBV with ECX=0 reads XCR0.
    unsafe {
        std::arch::asm!("xgetbv", in("ecx") 0, out("eax") eax, out("edx") edx, options(nomem, nostack))
    };
    u64::from(edx) << 32 | u64::from(eax)
}

/// std has no name for LAHF/SAHF: CPUID 0x8000_0001 ECX bit 0, read with
/// core's intrinsic.
// `__cpuid` is a safe function since Rust 1.87 and unsafe before.
#[allow(unused_unsafe)]
fn lahf_sahf_from_cpuid() -> bool {
    // SAFETY: CPUID is available on every x86-64 CPU.
    let max = unsafe { core::arch::x86_64::__cpuid(0x8000_0000) }.eax;
    // SAFETY: as above; the leaf was checked to exist.
    max >= 0x8000_0001 && unsafe { core::arch::x86_64::__cpuid(0x8000_0001) }.ecx & 1 == 1
}

/// The highest level that glibc's dynamic loader reports as
/// "(supported, searched)" in `ld.so --help`, run by `runner` (empty: natively).
pub fn ld_so_level(runner: &[&OsStr]) -> Level {
    let ld_so = "/lib64/ld-linux-x86-64.so.2";
    let mut cmd = match runner {
        [] => Command::new(ld_so),
        [first, rest @ ..] => {
            let mut c = Command::new(first);
            c.args(rest).arg(ld_so);
            c
        }
    };
    let out = cmd.arg("--help").stderr(Stdio::null()).output().expect("run ld.so --help");
    assert!(out.status.success(), "ld.so --help: {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let supported: Vec<Level> = text
        .lines()
        .filter(|l| l.trim_end().ends_with("(supported, searched)"))
        .filter_map(|l| Level::parse(l.split_whitespace().next()?.as_bytes()))
        .collect();
    assert!(text.contains("x86-64-v2"), "ld.so --help lists no levels (glibc too old?):\n{text}");
    supported.into_iter().max().unwrap_or(Level::V1)
}

/// `qemu-x86_64`, installed with apt-get when missing; None (after printing
/// why) when it cannot be had.
pub fn qemu() -> Option<&'static Path> {
    static QEMU: OnceLock<Option<PathBuf>> = OnceLock::new();
    let works = || Command::new("qemu-x86_64").arg("--version").output().is_ok_and(|o| o.status.success());
    QEMU.get_or_init(|| {
        if !works() {
            apt_install("qemu-user");
        }
        if works() {
            Some(PathBuf::from("qemu-x86_64"))
        } else {
            eprintln!("SKIP: qemu-x86_64 is not installed and could not be installed");
            None
        }
    })
    .as_deref()
}

/// `strace`, installed with apt-get when missing; None (after printing why)
/// when it cannot be had or may not trace here (ptrace denied).
pub fn strace() -> Option<&'static Path> {
    static STRACE: OnceLock<Option<PathBuf>> = OnceLock::new();
    let works = || {
        Command::new("strace")
            .args(["-qq", "-o", "/dev/null", "true"])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    STRACE
        .get_or_init(|| {
            if !works() {
                apt_install("strace");
            }
            if works() {
                Some(PathBuf::from("strace"))
            } else {
                eprintln!("SKIP: strace is not installed (and could not be) or may not trace here");
                None
            }
        })
        .as_deref()
}

/// `apt-get install -y package`, best effort (the caller checks the result).
fn apt_install(package: &str) {
    eprintln!("{package} missing: apt-get install -y {package}");
    let apt =
        |args: &[&str]| Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status();
    let _ = apt(&["update", "-qq"]).and_then(|_| apt(&["install", "-y", "-qq", package]));
}

/// The first 32 hex digits of the SHA-256 of `path` (the cache key), from `sha256sum`.
pub fn cache_key(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("hex")[..32].to_owned()
}

/// A test's own directory with HOME and XDG_CACHE_HOME in it; removed on drop.
#[derive(Debug)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub home: PathBuf,
    pub xdg: PathBuf,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("multiarch-it-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new().mode(0o700).create(&dir).expect("create sandbox");
        let (home, xdg) = (dir.join("home"), dir.join("xdg"));
        fs::create_dir(&home).expect("create HOME");
        fs::create_dir(&xdg).expect("create XDG_CACHE_HOME");
        Sandbox { dir, home, xdg }
    }

    /// The cache root the bundles use: `$XDG_CACHE_HOME/multiarch`.
    pub fn cache_root(&self) -> PathBuf {
        self.xdg.join("multiarch")
    }

    /// Where `bundle` caches the build of `level`: `<root>/<key>/<program>`.
    pub fn entry(&self, bundle: Bundle, level: Level) -> PathBuf {
        self.cache_root().join(cache_key(&fixtures().payload(level))).join(bundle.program())
    }

    /// A command with only PATH, HOME and XDG_CACHE_HOME in its environment.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("XDG_CACHE_HOME", &self.xdg)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `bundle`.
    pub fn bundle(&self, bundle: Bundle) -> Command {
        self.command(&fixtures().bundle(bundle))
    }

    /// Runs the payload built for `level` directly, without a launcher.
    pub fn payload(&self, level: Level) -> Command {
        self.command(&fixtures().payload(level))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Tests chmod things; make everything removable again.
        let _ = Command::new("chmod").arg("-R").arg("u+rwx").arg(&self.dir).status();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd` to the end, capturing stdout and stderr.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd` and requires exit 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {}\nstderr: {}", describe(&out), stderr(&out));
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit status as text, for assertion messages.
pub fn describe(out: &Output) -> String {
    match (out.status.code(), out.status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (_, Some(s)) => format!("signal {s}"),
        _ => format!("{}", out.status),
    }
}

/// The launcher's lines on stderr (qemu adds warnings of its own).
pub fn launcher_lines(out: &Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.starts_with("[multiarch]")).map(str::to_owned).collect()
}

/// The one log line, or a failure that shows stderr, without its
/// `; passed over ...` part (see [`passed_over`]), which must be well formed.
pub fn log_line(out: &Output) -> String {
    let line = full_log_line(out);
    passed_over_of(&line);
    match line.find("; passed over ") {
        Some(at) => format!("{})", &line[..at]),
        None => line,
    }
}

/// The one log line, whole.
pub fn full_log_line(out: &Output) -> String {
    let lines = launcher_lines(out);
    assert_eq!(lines.len(), 1, "want one [multiarch] line, stderr:\n{}", stderr(out));
    lines.into_iter().next().unwrap_or_default()
}

/// The variants the log line says were passed over, each with the
/// features it lacks: `; passed over a (lacks x y), b (lacks z))`.
pub fn passed_over(out: &Output) -> Vec<(String, Vec<String>)> {
    passed_over_of(&full_log_line(out))
}

fn passed_over_of(line: &str) -> Vec<(String, Vec<String>)> {
    let Some(at) = line.find("; passed over ") else { return Vec::new() };
    let rest = line[at + "; passed over ".len()..].strip_suffix(')').expect("the line ends with ')'");
    rest.split("), ")
        .map(|item| {
            let item = item.strip_suffix(')').unwrap_or(item);
            let (name, lacks) = item.split_once(" (lacks ").unwrap_or_else(|| panic!("malformed: {line}"));
            assert!(multiarch_launcher::bundle::valid_name(name.as_bytes()), "{line}");
            let lacks: Vec<String> = lacks.split(' ').map(str::to_owned).collect();
            assert!(lacks.iter().all(|f| !f.is_empty()), "{line}");
            (name.to_owned(), lacks)
        })
        .collect()
}

/// The start of the log line the contract prescribes, through its `via`
/// part (e.g. `"via cache"`): the exact line is this plus `)`, or plus notes
/// (`"; cache unusable: ..."`) and `)`.
pub fn log_prefix(level: Level, cpu: Level, bundle: Bundle, via: &str) -> String {
    let embedded: Vec<&str> = bundle.levels().iter().map(|l| l.short_name()).collect();
    format!("[multiarch] starting {level} (cpu {cpu}; embedded {}; {via}", embedded.join(" "))
}

/// The exact log line without notes.
pub fn log_exact(level: Level, cpu: Level, bundle: Bundle, via: &str) -> String {
    format!("{})", log_prefix(level, cpu, bundle, via))
}

/// Requires a log line that falls back to a memfd because the cache is
/// unusable, with each of `why` in the reason.
pub fn assert_cache_fallback(out: &Output, level: Level, cpu: Level, bundle: Bundle, why: &[&str]) {
    let line = log_line(out);
    let prefix = log_prefix(level, cpu, bundle, "via memfd; cache unusable: ");
    assert!(line.starts_with(&prefix) && line.ends_with(')'), "log line\n  {line}\nwant\n  {prefix}...)");
    for w in why {
        assert!(line.contains(w), "log line {line:?} lacks {w:?}");
    }
    let r = Report::parse(out);
    assert!(r.exe_str().starts_with("/memfd:"), "started from {:?}, not a memfd", r.exe);
}

/// What the payload's `report` mode printed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub level: String,
    /// The build's name: the variant it was built as.
    pub build: String,
    pub pid: u32,
    pub exe: PathBuf,
    pub args: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub sigpipe: String,
    pub fds: Vec<u32>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex byte")).collect()
}

impl Report {
    pub fn parse(out: &Output) -> Report {
        assert!(out.status.success(), "payload failed: {}\nstderr: {}", describe(out), stderr(out));
        let text = String::from_utf8(out.stdout.clone()).expect("report is UTF-8");
        let mut r = Report::default();
        for line in text.lines() {
            let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("bad report line {line:?}"));
            match key {
                "level" => r.level = value.to_owned(),
                "build" => r.build = value.to_owned(),
                "pid" => r.pid = value.parse().expect("pid"),
                "exe" => r.exe = PathBuf::from(value),
                "arg" => r.args.push(unhex(value)),
                "env" => r.env.push(unhex(value)),
                "sigpipe" => r.sigpipe = value.to_owned(),
                "fds" => {
                    r.fds =
                        value.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().expect("fd")).collect()
                }
                _ => panic!("unknown report key {key:?}"),
            }
        }
        assert!(!r.level.is_empty(), "no level in report:\n{text}");
        r
    }

    /// The report's `exe` as a string.
    pub fn exe_str(&self) -> String {
        self.exe.to_string_lossy().into_owned()
    }
}

/// Makes `cmd` exec `path` with exactly `argv` and `envp` (byte strings,
/// which need not contain '='), by calling execve(2) itself in the child.
pub fn exec_raw(cmd: &mut Command, path: &Path, argv: &[&[u8]], envp: &[&[u8]]) {
    let cstr = |b: &[u8]| CString::new(b).expect("no NUL inside");
    let path = cstr(path.as_os_str().as_bytes());
    let argv: Vec<CString> = argv.iter().map(|a| cstr(a)).collect();
    let envp: Vec<CString> = envp.iter().map(|e| cstr(e)).collect();
    // Pointer tables built before fork (no allocation in the child), kept as
    // addresses so that the closure is Send. The CStrings' buffers do not
    // move when the vectors move into the closure.
    let table = |v: &[CString]| -> Vec<usize> {
        v.iter().map(|c| c.as_ptr() as usize).chain(std::iter::once(0)).collect()
    };
    let (argv_ptrs, envp_ptrs) = (table(&argv), table(&envp));
    let hook = move || {
        let _keep = (&argv, &envp);
        // SAFETY: `path` is NUL-terminated; both tables are NULL-terminated
        // arrays of pointers to NUL-terminated strings that `argv` and `envp`
        // (owned by this closure) keep alive; usize and pointers have one size.
        unsafe {
            libc::execve(
                path.as_ptr(),
                argv_ptrs.as_ptr().cast::<*const libc::c_char>(),
                envp_ptrs.as_ptr().cast::<*const libc::c_char>(),
            )
        };
        Err(std::io::Error::last_os_error())
    };
    // SAFETY: the hook only calls execve(2), which is async-signal-safe.
    unsafe { cmd.pre_exec(hook) };
}

/// Sets SIGPIPE to SIG_IGN in the child, after std reset it to SIG_DFL.
pub fn ignore_sigpipe(cmd: &mut Command) {
    let hook = || {
        // SAFETY: signal(2) with SIG_IGN installs no handler; async-signal-safe.
        if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls signal(2).
    unsafe { cmd.pre_exec(hook) };
}

/// Opens fd `target` in the child as a copy of its stdin, without FD_CLOEXEC.
pub fn extra_fd(cmd: &mut Command, target: i32) {
    let hook = move || {
        // SAFETY: dup2(2) on fds of the child; the new fd has no FD_CLOEXEC.
        if unsafe { libc::dup2(0, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls dup2(2).
    unsafe { cmd.pre_exec(hook) };
}

/// Sets the child's umask.
pub fn umask_in_child(cmd: &mut Command, mask: libc::mode_t) {
    let hook = move || {
        // SAFETY: umask(2) only changes this (child) process's mask; it cannot fail.
        unsafe { libc::umask(mask) };
        Ok(())
    };
    // SAFETY: the hook only calls umask(2).
    unsafe { cmd.pre_exec(hook) };
}

/// Runs the child in a private mount namespace where `dir` is bind-mounted
/// read-only onto itself. Returns false (after printing why) when this
/// process may not create mount namespaces.
pub fn read_only_in_child(cmd: &mut Command, dir: &Path) -> bool {
    remount_in_child(cmd, dir, libc::MS_RDONLY)
}

/// Runs the child in a private mount namespace where `dir` is bind-mounted
/// onto itself with `flags` (`MS_RDONLY`, `MS_NOEXEC`). Returns false (after
/// printing why) when this process may not create mount namespaces.
pub fn remount_in_child(cmd: &mut Command, dir: &Path, flags: libc::c_ulong) -> bool {
    let probe = Command::new("unshare").args(["-m", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: cannot create a mount namespace (unshare -m fails)");
        return false;
    }
    let dir = CString::new(dir.as_os_str().as_bytes()).expect("no NUL");
    let slash = CString::new("/").expect("no NUL");
    let hook = move || {
        let check = |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
        let null = std::ptr::null::<libc::c_char>();
        // SAFETY: unshare(2) affects only this (child) process.
        check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
        // SAFETY: mount(2) with valid NUL-terminated strings or NULL, in the
        // child's own mount namespace; MS_PRIVATE keeps it from propagating.
        check(unsafe {
            libc::mount(null, slash.as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, null.cast())
        })?;
        // SAFETY: as above.
        check(unsafe { libc::mount(dir.as_ptr(), dir.as_ptr(), null, libc::MS_BIND, null.cast()) })?;
        let flags = libc::MS_REMOUNT | libc::MS_BIND | flags;
        // SAFETY: as above.
        check(unsafe { libc::mount(null, dir.as_ptr(), null, flags, null.cast()) })
    };
    // SAFETY: the hook only makes system calls, without allocating.
    unsafe { cmd.pre_exec(hook) };
    true
}

/// Writes `bytes` to a new file.
pub fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    let mut f = fs::File::create(path).expect("create file");
    f.write_all(bytes).expect("write file");
}

/// Sets the permission bits of `path`.
pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Files under `dir` (recursively) whose name contains `needle`.
pub fn files_named(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return found };
    for e in entries.flatten() {
        let path = e.path();
        if e.file_name().to_string_lossy().contains(needle) {
            found.push(path.clone());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(files_named(&path, needle));
        }
    }
    found
}

/// `OsString` from bytes.
pub fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// Sets the child's `RLIMIT_FSIZE` (`ulimit -f`) to `bytes`.
pub fn file_size_limit_in_child(cmd: &mut Command, bytes: u64) {
    rlimit_in_child(cmd, libc::RLIMIT_FSIZE, bytes);
}

/// Sets the child's `RLIMIT_AS` (`ulimit -v`) to `bytes`.
pub fn address_space_limit_in_child(cmd: &mut Command, bytes: u64) {
    rlimit_in_child(cmd, libc::RLIMIT_AS, bytes);
}

fn rlimit_in_child(cmd: &mut Command, resource: libc::__rlimit_resource_t, bytes: u64) {
    let hook = move || {
        let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
        // SAFETY: setrlimit(2) with a valid struct; affects only the child.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls setrlimit(2).
    unsafe { cmd.pre_exec(hook) };
}

/// Sets signal `sig` to SIG_IGN in the child.
pub fn ignore_signal_in_child(cmd: &mut Command, sig: libc::c_int) {
    let hook = move || {
        // SAFETY: signal(2) with SIG_IGN installs no handler; async-signal-safe.
        if unsafe { libc::signal(sig, libc::SIG_IGN) } == libc::SIG_ERR {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls signal(2).
    unsafe { cmd.pre_exec(hook) };
}

// Classic BPF for the seccomp filters below (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// `seccomp_data.arch` of x86-64 (AUDIT_ARCH_X86_64).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Installs `filter` as a seccomp filter in the child (with no_new_privs,
/// as an unprivileged process must).
fn seccomp_in_child(cmd: &mut Command, filter: Vec<libc::sock_filter>) {
    let hook = move || {
        let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
        // SAFETY: prctl(2) with documented arguments; `prog` points to a
        // valid filter that outlives the call; affects only the child.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook only makes system calls, without allocating (the
    // filter was built before the fork).
    unsafe { cmd.pre_exec(hook) };
}

/// Installs a seccomp filter in the child that fails system call `nr` with
/// EPERM (as container runtimes deny calls) and allows every other.
pub fn deny_syscall_in_child(cmd: &mut Command, nr: libc::c_long) {
    // BPF: if arch != x86-64 allow; if nr == `nr` return ERRNO(EPERM); allow.
    let filter = vec![
        stmt(LD_W_ABS, 4), // seccomp_data.arch
        jump(JEQ_K, AUDIT_ARCH_X86_64, 0, 3),
        stmt(LD_W_ABS, 0), // seccomp_data.nr
        jump(JEQ_K, nr as u32, 0, 1),
        stmt(RET_K, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
    ];
    seccomp_in_child(cmd, filter);
}

/// Sets the modification time of `path` to `secs_ago` seconds ago.
pub fn age(path: &Path, secs_ago: i64) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: time(NULL) has no preconditions.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    let t = libc::timespec { tv_sec: now - secs_ago, tv_nsec: 0 };
    let times = [t, t];
    // SAFETY: a NUL-terminated path and two valid timespecs.
    let rc =
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    assert_eq!(rc, 0, "utimensat {}: {}", path.display(), std::io::Error::last_os_error());
}

/// Installs a seccomp filter in the child that fails `openat` with
/// `O_TMPFILE` with EOPNOTSUPP, as on a file system without it.
pub fn deny_o_tmpfile_in_child(cmd: &mut Command) {
    seccomp_in_child(cmd, no_o_tmpfile_filter(false));
}

/// As [`deny_o_tmpfile_in_child`], and kills the child (SIGSYS, without a
/// core dump) at its first write(2) to a descriptor above 2: a start stopped
/// while it writes a build into a file, deterministically.
pub fn deny_o_tmpfile_and_kill_at_file_write_in_child(cmd: &mut Command) {
    // A process killed by seccomp dumps core, as for SIGSYS.
    rlimit_in_child(cmd, libc::RLIMIT_CORE, 0);
    seccomp_in_child(cmd, no_o_tmpfile_filter(true));
}

/// The BPF of the two above. seccomp_data: nr at 0, arch at 4, args[0]
/// (low half) at 16, args[2] (low half) at 32.
fn no_o_tmpfile_filter(kill_at_file_write: bool) -> Vec<libc::sock_filter> {
    const O_TMPFILE_BIT: u32 = 0o20000000;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    let eopnotsupp = stmt(RET_K, libc::SECCOMP_RET_ERRNO | libc::EOPNOTSUPP as u32);
    let allow = stmt(RET_K, libc::SECCOMP_RET_ALLOW);
    if !kill_at_file_write {
        // if arch == x86-64 && nr == openat && args[2] & __O_TMPFILE:
        // return ERRNO(EOPNOTSUPP); else allow.
        return vec![
            stmt(LD_W_ABS, 4),
            jump(JEQ_K, AUDIT_ARCH_X86_64, 0, 5),
            stmt(LD_W_ABS, 0),
            jump(JEQ_K, libc::SYS_openat as u32, 0, 3),
            stmt(LD_W_ABS, 32),
            jump(JSET_K, O_TMPFILE_BIT, 0, 1),
            eopnotsupp,
            allow,
        ];
    }
    // As above, and: if nr == write && args[0] >= 3: kill the process.
    vec![
        stmt(LD_W_ABS, 4),                           // 0
        jump(JEQ_K, AUDIT_ARCH_X86_64, 0, 9),        // 1: else 11
        stmt(LD_W_ABS, 0),                           // 2
        jump(JEQ_K, libc::SYS_openat as u32, 0, 2),  // 3: else 6
        stmt(LD_W_ABS, 32),                          // 4
        jump(JSET_K, O_TMPFILE_BIT, 3, 5),           // 5: 9 or 11
        jump(JEQ_K, libc::SYS_write as u32, 0, 4),   // 6: else 11
        stmt(LD_W_ABS, 16),                          // 7
        jump(JGE_K, 3, 1, 2),                        // 8: 10 or 11
        eopnotsupp,                                  // 9
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS), // 10
        allow,                                       // 11
    ]
}
