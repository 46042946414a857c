//! Start at login: an XDG autostart entry (`$XDG_CONFIG_HOME/autostart/io.github.backstop.Backstop.desktop`) that
//! starts Backstop hidden in the tray (`--hidden`), with this process's `BACKSTOP_HOME` passed on through `env`.
//!
//! The entry's text and the desktop-entry quoting of its `Exec` line are pure; [`enable`], [`disable`] and
//! [`status`] are the side effects.

use super::{APP_ID, Launch, Places, not_here, path_text, remove_file, write_public};
use crate::error::Result;
use std::path::{Path, PathBuf};

/// The flag that starts the window hidden in the tray.
pub const HIDDEN_FLAG: &str = "--hidden";

/// The start-at-login entry as it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutostartStatus {
    /// No entry (or one the desktop's own settings turned off).
    Off,
    /// An entry starts `exe`, which exists.
    On {
        /// The program it starts.
        exe: PathBuf,
        /// Whether that is the program running now (another one: a second installation).
        this_binary: bool,
    },
    /// An entry is there but starts nothing: its program is gone, or its `Exec` line cannot be read.
    Broken {
        /// What is wrong, in words.
        why: String,
    },
    /// This system has no XDG autostart, or its folder cannot be found or read.
    Unavailable(String),
}

impl AutostartStatus {
    /// Whether an entry is there (working or not): the switch shows on, and turning it off removes the entry.
    pub fn is_on(&self) -> bool {
        matches!(
            self,
            AutostartStatus::On { .. } | AutostartStatus::Broken { .. }
        )
    }

    /// The state in one line for people.
    pub fn words(&self) -> String {
        match self {
            AutostartStatus::Off => "Off: Backstop starts when you open it.".into(),
            AutostartStatus::On {
                this_binary: true, ..
            } => "On: Backstop starts hidden in the tray when you log in.".into(),
            AutostartStatus::On { exe, .. } => format!(
                "On, but it starts another copy of Backstop ({}); turn it off and on to start this one.",
                exe.display()
            ),
            AutostartStatus::Broken { why } => {
                format!("Not working: {why}; turn it off and on to repair it.")
            }
            AutostartStatus::Unavailable(why) => why.clone(),
        }
    }
}

/// Where the entry lives under `config_home`.
pub fn entry_path(config_home: &Path) -> PathBuf {
    config_home
        .join("autostart")
        .join(format!("{APP_ID}.desktop"))
}

/// The entry's text (Desktop Entry Specification 1.5; passes `desktop-file-validate`).
pub fn entry_text(launch: &Launch) -> Result<String> {
    let exe = path_text(&launch.exe)?;
    let mut args = Vec::new();
    if let Some(home) = &launch.backstop_home {
        args.push("env".to_string());
        args.push(format!("{}={}", crate::config::HOME_ENV, path_text(home)?));
    }
    args.push(exe.to_string());
    args.push(HIDDEN_FLAG.to_string());
    let exec = args
        .iter()
        .map(|a| exec_arg(a))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=Backstop\n\
         Comment=Keeps automatic database backups running from the tray\n\
         Icon={APP_ID}\n\
         Exec={exec}\n\
         TryExec={}\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n",
        string_value(exe)
    ))
}

/// One argument of an `Exec` line: quoted when it holds a reserved character (inside the quotes `"`, `` ` ``,
/// `$` and `\` escaped), `%` doubled (a field code otherwise), then escaped as a key-file string (`\` doubled).
pub fn exec_arg(arg: &str) -> String {
    const RESERVED: &[char] = &[
        ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(',
        ')', '`',
    ];
    let quoted = if arg.is_empty() || arg.contains(RESERVED) {
        let mut q = String::from("\"");
        for c in arg.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        arg.to_string()
    };
    string_value(&quoted.replace('%', "%%"))
}

/// A key-file string value: `\` escaped, and a leading space kept as `\s`.
fn string_value(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\");
    match escaped.strip_prefix(' ') {
        Some(rest) => format!("\\s{rest}"),
        None => escaped,
    }
}

/// Undoes [`string_value`] (the key-file escapes `\s \n \t \r \\`).
fn unescape_value(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Splits an `Exec` value (key-file escapes already undone) into its arguments; `None` when a quote is unclosed.
pub fn split_exec(exec: &str) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let mut chars = exec.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Some(args);
        };
        let mut arg = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => arg.push(chars.next()?),
                    c => arg.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg.replace("%%", "%"));
    }
}

/// The program an `Exec` line starts: its first argument, past `env` and its `NAME=value` assignments.
pub fn program_of(args: &[String]) -> Option<&str> {
    let mut rest = args.iter().map(String::as_str);
    let first = rest.next()?;
    if first != "env" && !first.ends_with("/env") {
        return Some(first);
    }
    rest.find(|a| !a.contains('=') && !a.starts_with('-'))
}

/// Writes the entry (idempotent); returns its path.
pub fn enable(places: &Places) -> Result<PathBuf> {
    if !cfg!(target_os = "linux") {
        return Err(not_here("Starting at login from Backstop"));
    }
    let path = entry_path(places.config_home()?);
    write_public(&path, &entry_text(&places.launch)?)?;
    Ok(path)
}

/// Removes the entry; true when there was one.
pub fn disable(places: &Places) -> Result<bool> {
    if !cfg!(target_os = "linux") {
        return Err(not_here("Starting at login from Backstop"));
    }
    remove_file(&entry_path(places.config_home()?))
}

/// The entry as it is on disk.
pub fn status(places: &Places) -> AutostartStatus {
    if !cfg!(target_os = "linux") {
        return AutostartStatus::Unavailable(
            not_here("Starting at login from Backstop").to_string(),
        );
    }
    let Ok(home) = places.config_home() else {
        return AutostartStatus::Unavailable(
            "No home folder: there is nowhere to keep the entry.".into(),
        );
    };
    let path = entry_path(home);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return AutostartStatus::Off,
        Err(e) => {
            return AutostartStatus::Broken {
                why: format!("{} cannot be read ({e})", path.display()),
            };
        }
    };
    status_of(&text, &places.launch.exe, &|p| p.is_file())
}

/// What an entry's text means (pure but for `exists`, which says whether a program is there).
pub fn status_of(text: &str, this_exe: &Path, exists: &dyn Fn(&Path) -> bool) -> AutostartStatus {
    let value = |key: &str| {
        text.lines()
            .map(str::trim_start)
            .find_map(|line| line.strip_prefix(key)?.trim_start().strip_prefix('='))
            .map(|v| unescape_value(v.trim()))
    };
    if value("Hidden").as_deref() == Some("true")
        || value("X-GNOME-Autostart-enabled").as_deref() == Some("false")
    {
        return AutostartStatus::Off;
    }
    let Some(exec) = value("Exec") else {
        return AutostartStatus::Broken {
            why: "the entry has no Exec line".into(),
        };
    };
    let Some(program) = split_exec(&exec)
        .as_deref()
        .and_then(program_of)
        .map(PathBuf::from)
    else {
        return AutostartStatus::Broken {
            why: format!("its Exec line cannot be read ({exec})"),
        };
    };
    if program.is_absolute() && !exists(&program) {
        return AutostartStatus::Broken {
            why: format!("it starts {}, which no longer exists", program.display()),
        };
    }
    AutostartStatus::On {
        this_binary: program == this_exe,
        exe: program,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desktop::test_support::{launch, places_in};

    #[test]
    fn exec_arguments_are_quoted_as_the_desktop_entry_spec_says() {
        let cases = [
            ("/usr/bin/backstop", "/usr/bin/backstop"),
            ("/opt/My Apps/backstop", "\"/opt/My Apps/backstop\""),
            ("/x/$HOME/b", "\"/x/\\\\$HOME/b\""),
            ("/x/100%/b", "/x/100%%/b"),
            ("/x/a\"b", "\"/x/a\\\\\"b\""),
            ("/x/back\\slash", "\"/x/back\\\\\\\\slash\""),
            ("BACKSTOP_HOME=/h/my home", "\"BACKSTOP_HOME=/h/my home\""),
        ];
        for (arg, want) in cases {
            assert_eq!(exec_arg(arg), want, "{arg}");
            // And back: the key-file escapes undone, then the Exec quoting.
            let back = split_exec(&unescape_value(&exec_arg(arg))).unwrap();
            assert_eq!(back, vec![arg.to_string()], "{arg}");
        }
    }

    #[test]
    fn the_entry_runs_this_binary_hidden_with_its_home() {
        let text = entry_text(&launch(
            "/opt/My Apps/backstop",
            Some("/home/a/backstop state"),
        ))
        .unwrap();
        assert!(
            text.contains(
                "Exec=env \"BACKSTOP_HOME=/home/a/backstop state\" \"/opt/My Apps/backstop\" --hidden\n"
            ),
            "{text}"
        );
        assert!(text.contains("TryExec=/opt/My Apps/backstop\n"), "{text}");
        assert!(text.contains("X-GNOME-Autostart-enabled=true\n"), "{text}");
        let plain = entry_text(&launch("/usr/bin/backstop", None)).unwrap();
        assert!(
            plain.contains("Exec=/usr/bin/backstop --hidden\n"),
            "{plain}"
        );
        assert!(
            entry_text(&launch("/usr/bin/back\nstop", None)).is_err(),
            "a newline cannot be written"
        );
    }

    #[test]
    fn status_reads_the_program_back_and_notices_one_that_is_gone() {
        let exe = Path::new("/opt/My Apps/backstop");
        let text = entry_text(&launch("/opt/My Apps/backstop", Some("/h"))).unwrap();
        assert_eq!(
            status_of(&text, exe, &|_| true),
            AutostartStatus::On {
                exe: exe.to_path_buf(),
                this_binary: true
            }
        );
        assert_eq!(
            status_of(&text, Path::new("/usr/bin/backstop"), &|_| true),
            AutostartStatus::On {
                exe: exe.to_path_buf(),
                this_binary: false
            }
        );
        let gone = status_of(&text, Path::new("/usr/bin/backstop"), &|_| false);
        assert!(
            matches!(&gone, AutostartStatus::Broken { why } if why.contains("/opt/My Apps/backstop, which no longer exists")),
            "{gone:?}"
        );
        assert!(
            gone.is_on(),
            "a broken entry is there: turning it off removes it"
        );
        let disabled = text.replace(
            "X-GNOME-Autostart-enabled=true",
            "X-GNOME-Autostart-enabled=false",
        );
        assert_eq!(status_of(&disabled, exe, &|_| true), AutostartStatus::Off);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn enable_is_idempotent_public_and_disable_leaves_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let places = places_in(dir.path());
        let exe = places.launch.exe.clone();
        assert_eq!(status(&places), AutostartStatus::Off);
        let path = enable(&places).unwrap();
        let first = std::fs::read(&path).unwrap();
        assert_eq!(enable(&places).unwrap(), path);
        assert_eq!(std::fs::read(&path).unwrap(), first, "idempotent");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644,
            "readable by the session manager whatever the umask"
        );
        assert_eq!(
            status(&places),
            AutostartStatus::On {
                exe: exe.clone(),
                this_binary: true
            }
        );
        validate(&path);
        assert!(disable(&places).unwrap());
        assert!(!disable(&places).unwrap(), "a second removal finds nothing");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            0,
            "nothing left"
        );
        assert_eq!(status(&places), AutostartStatus::Off);
    }

    /// `desktop-file-validate` on the entry, when it is installed (CI installs it).
    fn validate(path: &Path) {
        match std::process::Command::new("desktop-file-validate")
            .arg(path)
            .output()
        {
            Ok(out) => {
                let said = String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success() && !said.contains("error"), "{said}");
            }
            Err(_) => eprintln!(
                "note: desktop-file-validate is not installed; the entry was not validated"
            ),
        }
    }
}
