//! The engine's byte streams: log frames split into lines, and a stdio server's stdout.

use super::*;

/// Splits the engine's log frames into lines (a frame may hold several lines, or part of one).
pub(super) fn lines(raw: RawLogStream, id: String) -> LogStream {
    struct State {
        raw: RawLogStream,
        partial: [Vec<u8>; 2],
        ready: VecDeque<LogLine>,
        done: bool,
        id: String,
    }
    fn line(source: LogSource, bytes: &[u8]) -> LogLine {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        LogLine {
            source,
            text: String::from_utf8_lossy(bytes).into_owned(),
        }
    }
    let state = State {
        raw,
        partial: [Vec::new(), Vec::new()],
        ready: VecDeque::new(),
        done: false,
        id,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(l) = st.ready.pop_front() {
                return Some((Ok(l), st));
            }
            if st.done {
                return None;
            }
            match st.raw.next().await {
                None => {
                    st.done = true;
                    for (i, source) in [(0, LogSource::Stdout), (1, LogSource::Stderr)] {
                        if !st.partial[i].is_empty() {
                            let rest = std::mem::take(&mut st.partial[i]);
                            st.ready.push_back(line(source, &rest));
                        }
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(map_err(e, &st.id)), st));
                }
                Some(Ok(frame)) => {
                    let (i, source, msg) = match frame {
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            (0, LogSource::Stdout, message)
                        }
                        LogOutput::StdErr { message } => (1, LogSource::Stderr, message),
                        LogOutput::StdIn { .. } => continue,
                    };
                    st.partial[i].extend_from_slice(&msg);
                    while let Some(nl) = st.partial[i].iter().position(|b| *b == b'\n') {
                        let rest = st.partial[i].split_off(nl + 1);
                        let full = std::mem::replace(&mut st.partial[i], rest);
                        st.ready.push_back(line(source, &full[..nl]));
                    }
                }
            }
        }
    })
    .boxed()
}

/// The stdout of an attachment as a byte stream; stderr frames go to the log.
pub(super) struct StdoutReader {
    pub(super) inner: RawLogStream,
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
    pub(super) container: String,
}

impl AsyncRead for StdoutReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.pos < self.buf.len() {
                let n = out.remaining().min(self.buf.len() - self.pos);
                let start = self.pos;
                out.put_slice(&self.buf[start..start + n]);
                self.pos += n;
                return Poll::Ready(Ok(()));
            }
            match self.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(io::Error::other(e))),
                Poll::Ready(Some(Ok(frame))) => match frame {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        self.buf.clear();
                        self.buf.extend_from_slice(&message);
                        self.pos = 0;
                    }
                    LogOutput::StdErr { message } => {
                        tracing::debug!(
                            container = %self.container,
                            "stderr: {}",
                            String::from_utf8_lossy(&message).trim_end()
                        );
                    }
                    LogOutput::StdIn { .. } => {}
                },
            }
        }
    }
}
