//! The toolchains `sandbot skill build` runs for Python, JavaScript and C
//! skills: per language, the pinned tools, the folder they live in, whether
//! they are installed, and how to install them. A missing toolchain is
//! installed on first use, saying what, where and roughly how long.
//!
//! The folder and its stamps are the ones `example-skills/lang-skills.sh`
//! (`make lang-toolchains`) uses, and so are its lock files: the script and
//! any number of `skill build`s share a checkout's `target/toolchains`, and
//! only one of them installs a given toolchain.

use super::Lang;
use anyhow::{Context, Result, anyhow, bail};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The componentize-py that builds Python skills.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The same as the Rust SDK's wit-bindgen, with only its C generator.
pub const WIT_BINDGEN_VERSION: &str = "0.63.0";
/// Debian's clang for `wasm32-wasi`, with its sysroot and runtime.
const C_PACKAGES: [&str; 4] = ["clang", "lld", "wasi-libc", "libclang-rt-dev-wasm32"];
/// The JavaScript tools (componentize-js, jco, preview2-shim), pinned here
/// once: the binary carries the files `make lang-toolchains` installs from.
const JS_PACKAGE: &str = include_str!("../../../example-skills/toolchains/package.json");
const JS_LOCK: &str = include_str!("../../../example-skills/toolchains/package-lock.json");

/// The folder the toolchains live in, one sub-folder per language.
pub struct Toolchains {
    root: PathBuf,
}

/// One install, as it is announced, and as it is told when it fails.
struct Install<'a> {
    /// `.NAME.lock` in the folder: the script's lock names.
    lock: &'a str,
    what: &'a str,
    into: &'a Path,
    /// How and roughly how long, for the announcement.
    how: &'a str,
    /// The command that does it by hand.
    manual: &'a str,
}

impl Toolchains {
    /// `$SANDBOT_TOOLCHAINS` if set; else, while the source tree this binary
    /// was built from is still there, its `target/toolchains` (shared with
    /// `make lang-toolchains`); else the user's data folder
    /// (`$XDG_DATA_HOME/sandbot/toolchains`, `~/.local/share/sandbot/toolchains`).
    pub fn locate() -> Toolchains {
        if let Some(dir) = std::env::var_os("SANDBOT_TOOLCHAINS").filter(|v| !v.is_empty()) {
            return Toolchains::at(PathBuf::from(dir));
        }
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if checkout.join("example-skills/lang-skills.sh").is_file() {
            return Toolchains::at(checkout.join("target/toolchains"));
        }
        Toolchains::at(crate::config::default_data_dir().join("toolchains"))
    }

    pub fn at(root: PathBuf) -> Toolchains {
        // Absolute, so the paths handed to tools and shown in messages hold
        // from any working folder.
        let root = std::path::absolute(&root).unwrap_or(root);
        Toolchains { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Installs `lang`'s toolchain unless it is there (`sandbot skill toolchain`).
    pub fn install(&self, lang: Lang) -> Result<String> {
        Ok(match lang {
            Lang::Rust => {
                "Rust skills build with cargo and rustup's wasm32-wasip2 target (`rustup target add wasm32-wasip2`); nothing to install here".to_owned()
            }
            Lang::Python => {
                let tool = self.componentize_py()?;
                format!("componentize-py {COMPONENTIZE_PY_VERSION}: {}", tool.display())
            }
            Lang::Js => {
                self.js_tool("componentize-js")?;
                format!("{}: {}", js_versions(), self.root.join("js").display())
            }
            Lang::C => {
                self.c_compiler()?;
                let tool = self.wit_bindgen()?;
                self.js_tool("jco")?;
                format!(
                    "clang ({}), wit-bindgen {WIT_BINDGEN_VERSION} ({}) and jco ({})",
                    C_PACKAGES.join(" "),
                    tool.display(),
                    self.root.join("js").display()
                )
            }
        })
    }

    /// componentize-py in a virtual environment of its own, `python/`.
    pub fn componentize_py(&self) -> Result<PathBuf> {
        let venv = self.root.join("python");
        let tool = venv.join("bin/componentize-py");
        let stamp = venv.join(format!(".componentize-py-{COMPONENTIZE_PY_VERSION}"));
        let what = format!("componentize-py {COMPONENTIZE_PY_VERSION}");
        let manual = format!(
            "python3 -m venv {v} && {v}/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}",
            v = venv.display()
        );
        let job = Install {
            lock: "python",
            what: &what,
            into: &venv,
            how: "pip, about 10-30 s",
            manual: &manual,
        };
        self.ensure(
            &job,
            || stamp.is_file() && tool.is_file(),
            || {
                // `--clear` also takes away a stamp a broken install left.
                run(
                    Command::new("python3")
                        .args(["-m", "venv", "--clear"])
                        .arg(&venv),
                    "python3 -m venv",
                )?;
                run(
                    Command::new(venv.join("bin/pip"))
                        .args(["install", "--disable-pip-version-check"])
                        .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}")),
                    "pip install",
                )?;
                write_stamp(&stamp)
            },
        )?;
        Ok(tool)
    }

    /// `NAME` (componentize-js or jco) from the pinned npm packages, in `js/`.
    pub fn js_tool(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join("js");
        let stamp = dir.join(".installed");
        let what = js_versions();
        let manual = format!(
            "cd {} && npm install --no-save (its package.json and package-lock.json are sandbot's example-skills/toolchains/), or in the skill's folder `npm install {}`",
            dir.display(),
            js_packages().join(" ")
        );
        let job = Install {
            lock: "js",
            what: &what,
            into: &dir,
            how: "npm, 156 packages, 385 MB, about 10-40 s",
            manual: &manual,
        };
        // Installed from these very files: a binary built from a newer
        // lock file installs again, as the script does.
        let same = |file: &str, text: &str| {
            std::fs::read_to_string(dir.join(file)).is_ok_and(|t| t == text)
        };
        self.ensure(
            &job,
            || {
                stamp.is_file()
                    && same("package.json", JS_PACKAGE)
                    && same("package-lock.json", JS_LOCK)
            },
            || {
                remove_stamp(&stamp)?;
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                for (file, text) in [("package.json", JS_PACKAGE), ("package-lock.json", JS_LOCK)] {
                    let path = dir.join(file);
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                // `npm install` from the lock file, not `npm ci`: npm 10/11
                // leave other platforms' optional binaries out of the lock,
                // and `npm ci` then refuses it.
                run(
                    Command::new("npm")
                        .args(["install", "--no-save", "--no-fund", "--no-audit"])
                        .arg("--loglevel=error")
                        .current_dir(&dir),
                    "npm install",
                )?;
                write_stamp(&stamp)
            },
        )?;
        Ok(dir.join("node_modules/.bin").join(name))
    }

    /// wit-bindgen with only its C generator, built by cargo into `bin/`.
    pub fn wit_bindgen(&self) -> Result<PathBuf> {
        let tool = self.root.join("bin/wit-bindgen");
        let what = format!("wit-bindgen-cli {WIT_BINDGEN_VERSION} (C generator only)");
        let manual = format!(
            "CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --debug --root {} wit-bindgen-cli@{WIT_BINDGEN_VERSION} --no-default-features --features c",
            self.root.display()
        );
        let bin = self.root.join("bin");
        let job = Install {
            lock: "c",
            what: &what,
            into: &bin,
            how: "cargo builds it, 1-3 min",
            manual: &manual,
        };
        // No stamp: the binary says its version, as the script checks.
        let installed = || {
            Command::new(&tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| {
                    String::from_utf8_lossy(&o.stdout).trim()
                        == format!("wit-bindgen-cli {WIT_BINDGEN_VERSION}")
                })
        };
        self.ensure(&job, installed, || {
            // Unoptimised and without debug info: it runs for milliseconds,
            // and this build takes a third of a release build's CPU time.
            run(
                Command::new("cargo")
                    .args(["install", "--locked", "--debug", "--root"])
                    .arg(&self.root)
                    .arg(format!("wit-bindgen-cli@{WIT_BINDGEN_VERSION}"))
                    .args(["--no-default-features", "--features", "c"])
                    .env("CARGO_PROFILE_DEV_DEBUG", "0")
                    .current_dir(&self.root),
                "cargo install",
            )
        })?;
        Ok(tool)
    }

    /// Debian's clang for wasm, with apt-get, as root or through passwordless
    /// sudo; else the apt-get command to run. Off Debian (no `dpkg-query`),
    /// clang is the user's to install, and running it says if it is missing.
    pub fn c_compiler(&self) -> Result<()> {
        let missing = missing_debian_packages();
        if missing.is_empty() {
            return Ok(());
        }
        let list = missing.join(" ");
        let sudo = if is_root() {
            None
        } else if Command::new("sudo")
            .args(["-n", "true"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            Some("sudo")
        } else {
            bail!(
                "C skills need Debian's {list}, which are not installed, and installing them needs root: run `sudo apt-get install -y {list}`, then build again"
            );
        };
        let what = format!("Debian packages {list}");
        let manual = format!("sudo apt-get install -y {list}");
        let into = Path::new("/usr");
        let job = Install {
            lock: "c",
            what: &what,
            into,
            how: "apt-get, 16 MB, about 10 s",
            manual: &manual,
        };
        let apt = |args: &[&str]| {
            let mut cmd = match sudo {
                Some(sudo) => {
                    let mut c = Command::new(sudo);
                    c.arg("apt-get");
                    c
                }
                None => Command::new("apt-get"),
            };
            cmd.args(["-o", "DPkg::Lock::Timeout=600"])
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive");
            cmd
        };
        self.ensure(
            &job,
            || missing_debian_packages().is_empty(),
            || {
                run(&mut apt(&["update", "-q"]), "apt-get update")?;
                run(
                    apt(&["install", "-y", "-q"]).args(&missing),
                    "apt-get install",
                )
            },
        )
    }

    /// Runs `install` unless `installed` holds, under the folder's lock for
    /// the language, so that builds at once install once; a failure names
    /// what, where, and the command that does it by hand.
    fn ensure(
        &self,
        job: &Install,
        installed: impl Fn() -> bool,
        install: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        if installed() {
            return Ok(());
        }
        let failed = |e: anyhow::Error| {
            anyhow!(
                "installing {} into {} failed: {e:#}\nto install it by hand: {}",
                job.what,
                job.into.display(),
                job.manual
            )
        };
        let _lock = self.lock(job).map_err(failed)?;
        // Another build may have installed it while this one waited.
        if installed() {
            return Ok(());
        }
        say(&format!(
            "installing {} into {} (first use; {})",
            job.what,
            job.into.display(),
            job.how
        ));
        let started = Instant::now();
        install().map_err(failed)?;
        if !installed() {
            return Err(failed(anyhow!("it is still not there afterwards")));
        }
        say(&format!(
            "installed {} in {:.0} s",
            job.what,
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// The exclusive lock on a language's installs, held while the file is
    /// open (flock(2), as the script's `flock`).
    fn lock(&self, job: &Install) -> Result<File> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let path = self.root.join(format!(".{}.lock", job.lock));
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                say(&format!(
                    "waiting for another install into {} to finish",
                    self.root.display()
                ));
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        Ok(file)
    }
}

/// Progress goes to stderr: stdout says what was built.
fn say(line: &str) {
    eprintln!("sandbot: {line}");
}

/// Runs an install step with its output shown (on stderr).
fn run(cmd: &mut Command, step: &str) -> Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status = match cmd.stdout(std::io::stderr()).status() {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("`{program}` is not installed (or not on PATH)")
        }
        Err(e) => return Err(e).with_context(|| format!("running `{step}`")),
    };
    if !status.success() {
        bail!("`{step}` failed ({status}); its output is above");
    }
    Ok(())
}

fn write_stamp(stamp: &Path) -> Result<()> {
    std::fs::write(stamp, "").with_context(|| format!("writing {}", stamp.display()))
}

fn remove_stamp(stamp: &Path) -> Result<()> {
    match std::fs::remove_file(stamp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", stamp.display()))
        }
        _ => Ok(()),
    }
}

/// `name@version` of each pinned npm package.
fn js_packages() -> Vec<String> {
    let manifest: serde_json::Value =
        serde_json::from_str(JS_PACKAGE).expect("example-skills/toolchains/package.json is JSON");
    manifest["dependencies"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, version)| format!("{name}@{}", version.as_str().unwrap_or("?")))
        .collect()
}

/// "componentize-js 0.23.0, jco 1.35.0, preview2-shim 0.25.0"
fn js_versions() -> String {
    js_packages()
        .iter()
        .map(|p| p.trim_start_matches("@bytecodealliance/").replace('@', " "))
        .collect::<Vec<_>>()
        .join(", ")
}

fn missing_debian_packages() -> Vec<&'static str> {
    C_PACKAGES
        .into_iter()
        .filter(|p| {
            match Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
            {
                Ok(o) => !String::from_utf8_lossy(&o.stdout).contains("install ok installed"),
                // Not Debian: nothing to say here.
                Err(_) => false,
            }
        })
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_js_packages_are_read_from_the_embedded_manifest() {
        assert_eq!(
            js_versions(),
            "componentize-js 0.23.0, jco 1.35.0, preview2-shim 0.25.0"
        );
        assert!(
            JS_LOCK.contains("\"node_modules/@bytecodealliance/componentize-js\""),
            "the lock file is embedded"
        );
    }
}
