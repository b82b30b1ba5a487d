//! A command's output on stdout and stderr, shared by every command-line front end (`thv`, `thv-registry`).
//!
//! `println!` panics when the reader has gone (`thv search x | head -1`, exit 101 with a backtrace). Here a
//! closed stdout ends the process quietly with the status of one killed by SIGPIPE (141), as other command-line
//! tools do; another write error is reported, with status 1. Writes to stderr never fail a command: when it is
//! gone there is nobody left to tell. Use [`outln!`](crate::outln), [`out!`](crate::out) and
//! [`errln!`](crate::errln) instead of `println!`, `print!` and `eprintln!`.

use std::io::Write;

/// The exit status of a process killed by SIGPIPE (128 + 13), which a closed stdout ends with.
pub const CLOSED_PIPE_STATUS: i32 = 141;

/// Writes formatted output to stdout (see the module's documentation).
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        exit_on_write_error(&e);
    }
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

/// Writes formatted text to stderr, ignoring a stderr that is gone.
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
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
