//! The tasks that own the server's pipes (the writer and the reader) and the session sweeper.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::Inner;

pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut stdin: W,
) {
    let mut batch = Vec::with_capacity(8192);
    while let Some(line) = rx.recv().await {
        batch.clear();
        batch.extend_from_slice(&line);
        batch.push(b'\n');
        while let Ok(more) = rx.try_recv() {
            batch.extend_from_slice(&more);
            batch.push(b'\n');
        }
        let written = async {
            stdin.write_all(&batch).await?;
            stdin.flush().await
        }
        .await;
        if let Err(e) = written {
            inner.mark_exited(format!("writing to the MCP server's stdin failed: {e}"));
            return;
        }
    }
}

pub(super) async fn read_loop<R: AsyncRead + Unpin>(inner: Arc<Inner>, stdout: R) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut buf = Vec::with_capacity(8192);
    let reason = loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) => break "the MCP server closed its stdout (it exited)".to_owned(),
            Ok(_) => {
                let line = buf.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<Value>(line) {
                    Ok(Value::Array(msgs)) => msgs.into_iter().for_each(|m| inner.dispatch(m)),
                    Ok(msg) => inner.dispatch(msg),
                    Err(e) => tracing::warn!(
                        "the MCP server wrote a line that is not JSON ({e}): {}",
                        String::from_utf8_lossy(line)
                    ),
                }
            }
            Err(e) => break format!("reading the MCP server's stdout failed: {e}"),
        }
    };
    inner.mark_exited(reason);
}

pub(super) async fn sweep_loop(inner: Weak<Inner>, ttl: Duration) {
    let period = (ttl / 2).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        match inner.upgrade() {
            Some(inner) => inner.sweep(),
            None => return,
        }
    }
}
