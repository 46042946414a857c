//! Build script: only when the *target* is Windows, the exe's icon (`packaging/windows/backstop.ico`) and its
//! version information (what Explorer's Properties and Task Manager show) as a Windows resource. For every
//! other target it does nothing.
//!
//! The resource script is written to `OUT_DIR` with the Cargo version, then compiled:
//! - on a Windows host, by the `embed-resource` crate (it finds `rc.exe` or `llvm-rc` for MSVC and `windres` for
//!   GNU toolchains); it is a build-dependency on Windows hosts only, so Linux builds never compile it;
//! - on another host (cross-compiling to `*-pc-windows-gnu`, as CI's `cargo check` does), by MinGW's
//!   `<arch>-w64-mingw32-windres` (apt `binutils-mingw-w64-x86-64`; `WINDRES` overrides it) into a COFF object
//!   linked into the binary.

use std::env;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

const ICON: &str = "packaging/windows/backstop.ico";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return Ok(());
    }
    println!("cargo::rerun-if-changed={ICON}");
    println!("cargo::rerun-if-env-changed=WINDRES");
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let script = out_dir.join("backstop.rc");
    fs::write(&script, resource_script(&manifest_dir.join(ICON))?)?;
    compile(&script, &out_dir)
}

/// The resource script: icon 1 (the one Explorer shows) and VERSIONINFO from the Cargo version.
fn resource_script(icon: &Path) -> Result<String, Box<dyn Error>> {
    let number = |key: &str| -> Result<u16, Box<dyn Error>> { Ok(env::var(key)?.parse()?) };
    let (major, minor, patch) = (
        number("CARGO_PKG_VERSION_MAJOR")?,
        number("CARGO_PKG_VERSION_MINOR")?,
        number("CARGO_PKG_VERSION_PATCH")?,
    );
    let version = env::var("CARGO_PKG_VERSION")?;
    let description = env::var("CARGO_PKG_DESCRIPTION")?;
    let license = env::var("CARGO_PKG_LICENSE")?;
    // Resource compilers read C string literals: backslashes and quotes escaped.
    let quoted = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
    let icon = quoted(&icon.display().to_string());
    Ok(format!(
        r#"1 ICON "{icon}"

1 VERSIONINFO
FILEVERSION {major},{minor},{patch},0
PRODUCTVERSION {major},{minor},{patch},0
FILEFLAGSMASK 0x3f
FILEFLAGS 0x0
FILEOS 0x40004
FILETYPE 0x1
FILESUBTYPE 0x0
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "Backstop"
      VALUE "FileDescription", "Backstop"
      VALUE "Comments", "{description}"
      VALUE "FileVersion", "{version}"
      VALUE "InternalName", "backstop"
      VALUE "LegalCopyright", "License: {license}"
      VALUE "OriginalFilename", "backstop.exe"
      VALUE "ProductName", "Backstop"
      VALUE "ProductVersion", "{version}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"#,
        description = quoted(&description),
        license = quoted(&license),
        version = quoted(&version),
    ))
}

/// A Windows host: `embed-resource` picks the toolchain's resource compiler and links the result.
#[cfg(windows)]
fn compile(script: &Path, _out_dir: &Path) -> Result<(), Box<dyn Error>> {
    embed_resource::compile(script, embed_resource::NONE)
        .manifest_required()
        .map_err(|e| format!("cannot compile the Windows resources: {e}").into())
}

/// Another host, cross-compiling to a GNU Windows target: MinGW's windres makes a COFF object that goes onto
/// the link line of the binaries.
#[cfg(not(windows))]
fn compile(script: &Path, out_dir: &Path) -> Result<(), Box<dyn Error>> {
    if env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu") {
        println!(
            "cargo::warning=no Windows resource compiler for this target from this host: the exe gets no icon \
             and no version information (build on Windows, or for *-pc-windows-gnu with MinGW)"
        );
        return Ok(());
    }
    let windres = match env::var("WINDRES") {
        Ok(windres) => windres,
        Err(_) => format!("{}-w64-mingw32-windres", env::var("CARGO_CFG_TARGET_ARCH")?),
    };
    let object = out_dir.join("backstop-resources.o");
    let status = std::process::Command::new(&windres)
        .arg("--input")
        .arg(script)
        .arg("--output")
        .arg(&object)
        .arg("--output-format=coff")
        .status()
        .map_err(|e| {
            format!(
                "cannot run {windres} to compile the Windows resources ({e}); install MinGW's binutils \
                 (Debian: binutils-mingw-w64-x86-64) or set WINDRES"
            )
        })?;
    if !status.success() {
        return Err(format!("{windres} failed on {} ({status})", script.display()).into());
    }
    println!("cargo::rustc-link-arg-bins={}", object.display());
    Ok(())
}
