//! The library behind the `multiarch` command: packing bundles, reading
//! them without running them, timing their variants, and telling which of
//! them this CPU runs.

pub mod bench;
pub mod bundle_file;
pub mod compress;
pub mod cpu;
pub mod meta;
pub mod output;
pub mod pack;
pub mod sha256;

use anyhow::{Context, Result};
use bundle_file::Parsed;
use multiarch_launcher::codec::{self, DecodeError};
use multiarch_launcher::sys::Mapping;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A usage error: exit status 2.
#[derive(Debug)]
pub struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Decodes a codec stream (see `multiarch_launcher::codec`) against
/// `reference` into a new buffer of exactly `size` bytes.
pub fn decode_stream(stream: &[u8], reference: &[u8], size: usize) -> Result<Vec<u8>, DecodeError> {
    decode_with(size, |out| codec::decode_into(stream, reference, out, size))
}

/// Decodes a compressed blob's stored bytes (its segment table and streams)
/// against `reference` into a new buffer of exactly `size` bytes. The
/// segment table is checked against `size` and the stored bytes first.
pub fn decode_blob(data: &[u8], reference: &[u8], size: usize) -> Result<Vec<u8>, DecodeError> {
    codec::Segments::parse(data, size)?;
    decode_with(size, |out| codec::decode_blob_into(data, reference, out, size))
}

/// Runs `decode` on a buffer of `size` bytes plus the decoder's slack, and
/// returns the first `size`.
///
/// The buffer is an anonymous mapping that the kernel backs only where the
/// decoder writes (issue 10, defect 7): a table that claims gigabytes for a
/// stream that decodes to far less costs address space, not memory, and
/// fails where the stream ends. Only the decoded bytes are copied out.
fn decode_with(
    size: usize,
    decode: impl FnOnce(&mut [u8]) -> Result<(), DecodeError>,
) -> Result<Vec<u8>, DecodeError> {
    let full = size.checked_add(codec::SLACK).ok_or(DecodeError::WrongSize)?;
    let mut out = Mapping::new(full).map_err(|_| DecodeError::WrongSize)?;
    decode(out.as_mut_slice())?;
    Ok(out.as_slice()[..size].to_vec())
}

/// A path from the command line: a relative one is relative to
/// `BUILD_WORKING_DIRECTORY` when that is set to an absolute path, else to
/// the current directory.
///
/// `bazel run` starts a tool in its runfiles tree and sets
/// `BUILD_WORKING_DIRECTORY` to the directory bazel was run from (Bazel
/// source `src/main/java/com/google/devtools/build/lib/runtime/commands/RunCommand.java`:
/// `runEnvironment.put("BUILD_WORKING_DIRECTORY", env.getWorkingDirectory()...)`,
/// line 404 in Debian's bazel-bootstrap 4.2.3 source, the one at hand here;
/// tools such as rules_multitool's run wrapper rely on it in Bazel 7 and 8
/// too), so
/// `bazel run @rules_rust_multiarch//cli:multiarch -- verify bazel-bin/app`
/// finds the file the user means.
pub fn user_path(arg: impl Into<PathBuf>) -> PathBuf {
    let path = arg.into();
    if path.is_absolute() {
        return path;
    }
    match std::env::var_os("BUILD_WORKING_DIRECTORY").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir.join(path),
        _ => path,
    }
}

/// Reads and parses a bundle; errors name the file.
pub fn open(path: &Path) -> Result<(Vec<u8>, Parsed)> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let parsed = bundle_file::parse(&bytes).with_context(|| path.display().to_string())?;
    Ok((bytes, parsed))
}
