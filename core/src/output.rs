//! A command's output on stdout and stderr, shared by every command-line front end (`thv`, `thv-registry`).
//!
//! `println!` panics when the reader has gone (`thv search x | head -1`, exit 101 with a backtrace). Here a
//! closed stdout ends the process quietly with the status of one killed by SIGPIPE (141), as other command-line
//! tools do; another write error is reported, with status 1. Writes to stderr never fail a command: when it is
//! gone there is nobody left to tell. Use [`outln!`](crate::outln), [`out!`](crate::out) and
//! [`errln!`](crate::errln) instead of `println!`, `print!` and `eprintln!`.

use std::io::{IsTerminal, Write};

/// The exit status of a process killed by SIGPIPE (128 + 13), which a closed stdout ends with.
pub const CLOSED_PIPE_STATUS: i32 = 141;

/// Writes formatted output to stdout (see the module's documentation). On a terminal, control characters
/// (registry data may hold escape sequences) are shown escaped ([`escape_controls`]).
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = if out.is_terminal() {
        out.write_all(escape_controls(&args.to_string()).as_bytes())
    } else {
        out.write_fmt(args)
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        exit_on_write_error(&e);
    }
}

/// Text with every control character but newline and tab written as `\u{…}`: C0, DEL and C1 — what a
/// terminal would read as a command (a title change, a cleared screen) or a line break (`\r`, U+2028).
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let control = |c: char| {
        (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
    };
    if !text.chars().any(control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if control(c) {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Writes bytes to stdout (see the module's documentation).
pub fn write_stdout_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        exit_on_write_error(&e);
    }
}

/// Writes formatted output to stdout and says whether it was written, without ending the process: for a
/// command that must go on (and clean up) when its reader has gone.
pub fn try_write_stdout(args: std::fmt::Arguments<'_>) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.flush()).is_ok()
}

/// Writes formatted text to stderr, ignoring a stderr that is gone; control characters escaped on a terminal.
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = if err.is_terminal() {
        err.write_all(escape_controls(&args.to_string()).as_bytes())
    } else {
        err.write_fmt(args)
    };
}

/// Ends the process after stdout failed: 141 for a closed pipe, else 1 with the error on stderr.
pub fn exit_on_write_error(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_PIPE_STATUS);
    }
    write_stderr(format_args!("Error: cannot write the output: {e}\n"));
    std::process::exit(1);
}

/// `println!` for a command's output (see [`write_stdout`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for a command's output (see [`write_stdout`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `eprintln!` that does not panic when stderr is gone (see [`write_stderr`]).
#[macro_export]
macro_rules! errln {
    () => {
        $crate::output::write_stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// The error and its sources, `: `-joined, each said once.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_but_lines_and_tabs_kept() {
        assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            escape_controls("a\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\u{85}\u{2028}z"),
            "a\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\u{d}\\u{85}\\u{2028}z"
        );
    }
}
