//! `thv proxy stdio NAME`: a workload's HTTP proxy offered to a stdio MCP client (Claude Desktop starts
//! `thv proxy stdio NAME` and speaks newline-delimited JSON-RPC on its stdin/stdout).
//!
//! - **streamable-http** (`…/mcp`): every stdin line is POSTed (`Accept: application/json, text/event-stream`,
//!   with the `Mcp-Session-Id` the server gave on `initialize`); a JSON answer or each event of an event-stream
//!   answer is written to stdout as one line. Once the session exists, a `GET` stream carries the server's own
//!   requests and notifications (a 405 means the server offers none). Requests run concurrently, so a
//!   cancellation can overtake a slow call. At the end of stdin the session is ended with `DELETE`.
//! - **sse** (`…/sse`): the event stream is opened first; its `endpoint` event says where to POST; every
//!   `message` event is written to stdout.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The session id header of streamable HTTP.
const SESSION_HEADER: &str = "mcp-session-id";

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// An incremental parser of `text/event-stream` (fields `event` and `data`; comments and `id`/`retry` ignored).
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if line.is_empty() {
                if !self.data.is_empty() || self.event.is_some() {
                    out.push(SseEvent {
                        event: self.event.take(),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        out
    }
}

/// Bridges this process's stdin/stdout to the proxy at `url` (ends at the end of stdin).
pub async fn bridge_stdio(url: &str, sse: bool) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(line) = rx.recv().await {
            let one_line = line.replace('\n', " ");
            if out.write_all(one_line.as_bytes()).await.is_err()
                || out.write_all(b"\n").await.is_err()
                || out.flush().await.is_err()
            {
                break;
            }
        }
    });
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let result = if sse {
        bridge_sse(&client, url, tx).await
    } else {
        bridge_streamable(&client, url, tx).await
    };
    let _ = writer.await;
    result
}

async fn bridge_streamable(
    client: &reqwest::Client,
    url: &str,
    tx: mpsc::UnboundedSender<String>,
) -> anyhow::Result<()> {
    let session: Arc<Mutex<Option<String>>> = Arc::default();
    let mut get_stream_opened = false;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let is_init = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| {
                v.get("method")
                    .and_then(|m| m.as_str())
                    .map(|m| m == "initialize")
            })
            .unwrap_or(false);
        let (c, u, t, s) = (client.clone(), url.to_owned(), tx.clone(), session.clone());
        let post = async move {
            if let Err(e) = post_message(&c, &u, line, &t, &s).await {
                tracing::warn!("{e:#}");
            }
        };
        if is_init {
            // The session id must be known before the next message.
            post.await;
        } else {
            tasks.spawn(post);
        }
        let sid = session.lock().expect("session lock").clone();
        if !get_stream_opened && let Some(sid) = sid {
            get_stream_opened = true;
            tasks.spawn(open_get_stream(
                client.clone(),
                url.to_owned(),
                sid,
                tx.clone(),
            ));
        }
    }
    // End of stdin: wait for answers in flight (not for the GET stream), end the session.
    let sid = session.lock().expect("session lock").clone();
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(30));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            r = tasks.join_next() => if r.is_none() || tasks.len() <= usize::from(get_stream_opened) { break },
        }
    }
    tasks.abort_all();
    if let Some(sid) = sid {
        let _ = client.delete(url).header(SESSION_HEADER, sid).send().await;
    }
    Ok(())
}

async fn post_message(
    client: &reqwest::Client,
    url: &str,
    line: String,
    tx: &mpsc::UnboundedSender<String>,
    session: &Mutex<Option<String>>,
) -> anyhow::Result<()> {
    let mut req = client
        .post(url)
        .header(ACCEPT, "application/json, text/event-stream")
        .header(CONTENT_TYPE, "application/json")
        .body(line);
    if let Some(sid) = session.lock().expect("session lock").clone() {
        req = req.header(SESSION_HEADER, sid);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if let Some(sid) = resp
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        *session.lock().expect("session lock") = Some(sid.to_owned());
    }
    let status = resp.status();
    if status == reqwest::StatusCode::ACCEPTED {
        return Ok(());
    }
    let is_stream = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_stream {
        forward_events(resp, tx).await;
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    if !body.trim().is_empty() {
        let _ = tx.send(body.trim().to_owned());
    }
    Ok(())
}

async fn forward_events(resp: reqwest::Response, tx: &mpsc::UnboundedSender<String>) {
    let mut parser = SseParser::default();
    let mut body = resp.bytes_stream();
    while let Some(Ok(chunk)) = body.next().await {
        for ev in parser.feed(&chunk) {
            if ev.event.as_deref().is_none_or(|e| e == "message") && !ev.data.is_empty() {
                let _ = tx.send(ev.data);
            }
        }
    }
}

async fn open_get_stream(
    client: reqwest::Client,
    url: String,
    session: String,
    tx: mpsc::UnboundedSender<String>,
) {
    let resp = client
        .get(&url)
        .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
        .header(SESSION_HEADER, session)
        .send()
        .await;
    match resp {
        Ok(r) if r.status().is_success() => forward_events(r, &tx).await,
        Ok(r) => tracing::debug!("no server stream: {}", r.status()),
        Err(e) => tracing::debug!("no server stream: {e}"),
    }
}

async fn bridge_sse(
    client: &reqwest::Client,
    url: &str,
    tx: mpsc::UnboundedSender<String>,
) -> anyhow::Result<()> {
    let resp = client
        .get(url)
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if !resp.status().is_success() {
        bail!("{url} answered {}", resp.status());
    }
    let mut body = resp.bytes_stream();
    let mut parser = SseParser::default();
    // The first event says where to POST.
    let endpoint = 'found: loop {
        let Some(chunk) = body.next().await else {
            bail!("{url} closed the stream before its endpoint event");
        };
        for ev in parser.feed(&chunk?) {
            if ev.event.as_deref() == Some("endpoint") {
                break 'found url::Url::parse(url)?.join(ev.data.trim())?;
            }
        }
    };
    let forward = tokio::spawn(async move {
        while let Some(Ok(chunk)) = body.next().await {
            for ev in parser.feed(&chunk) {
                if ev.event.as_deref().is_none_or(|e| e == "message") && !ev.data.is_empty() {
                    let _ = tx.send(ev.data);
                }
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let r = client
            .post(endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(line)
            .send()
            .await
            .with_context(|| format!("cannot reach {endpoint}"))?;
        if !r.status().is_success() {
            tracing::warn!("{endpoint} answered {}", r.status());
        }
    }
    // Give the answers to the last messages a moment, then end.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    forward.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parsing_across_chunks() {
        let mut p = SseParser::default();
        assert!(
            p.feed(b"event: endpoint\r\ndata: /messages?session_id=1")
                .is_empty()
        );
        let evs = p.feed(b"\r\n\r\n: comment\n\ndata: {\"a\":1}\ndata: x\n\n");
        assert_eq!(
            evs,
            vec![
                SseEvent {
                    event: Some("endpoint".into()),
                    data: "/messages?session_id=1".into()
                },
                SseEvent {
                    event: None,
                    data: "{\"a\":1}\nx".into()
                },
            ]
        );
    }
}
