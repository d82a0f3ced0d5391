//! Standard output that a closed pipe ends quietly (`sqlgrade list | head`). Once the
//! reader has gone, what is left to print is dropped, a command still at work stops as
//! if interrupted (its server removed as ever, without a word on stderr), and the
//! process exits with 0 rather than a panic's 101.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

static CLOSED: AtomicBool = AtomicBool::new(false);

fn notify() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Writes `text` to standard output, unless its reader has gone.
pub fn write(text: &str) {
    if is_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        gone(&e);
    }
}

/// Takes note of a failed write to standard output: a closed pipe quietly, anything
/// else said once on stderr. Nothing more is written there either way.
pub fn gone(e: &std::io::Error) {
    if e.kind() != std::io::ErrorKind::BrokenPipe && !is_closed() {
        eprintln!("error: cannot write to standard output: {e}");
    }
    CLOSED.store(true, Ordering::SeqCst);
    notify().notify_waiters();
}

/// Whether standard output can no longer be written.
pub fn is_closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// Resolves once standard output can no longer be written.
pub async fn closed() {
    loop {
        let notified = notify().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if is_closed() {
            return;
        }
        notified.await;
    }
}

/// Says on stderr why a command stopped, unless it stopped because its reader left.
pub fn stopped(message: &str) {
    if !is_closed() {
        eprintln!("{message}");
    }
}

/// `println!` through [`write`].
#[macro_export]
macro_rules! outln {
    () => { $crate::out::write("\n") };
    ($($arg:tt)*) => { $crate::out::write(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` through [`write`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::write(&format!($($arg)*)) };
}
