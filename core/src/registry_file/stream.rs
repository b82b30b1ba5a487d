//! A registry file's entries read straight from a reader, one at a time, without holding the file: seeding a
//! registry of a million versions reads a 500 MB file in the memory of one entry.
//!
//! The three formats that hold an array of documents stream: a server list, an upstream registry's
//! `data.servers`, a registry API list response's `servers`. Anything else — a legacy registry (small by nature,
//! converted whole), an upstream file without `data.servers`, an object with both `data` and a `servers` array —
//! is read whole through [`ServerDocuments`], which also words every error about the file's shape: the entries
//! then are the same, in the same order, with the same paths. The whole reading is chosen before any entry is
//! handed out; a file that could only be told apart after some were (a key holding entries twice, a `servers`
//! array beside `data`) is refused, naming the key.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::api_list::{API_LIST, FileEntry};
use super::documents::{FileKind, ServerDocuments, unreadable};
use super::{RegistryFileError, UPSTREAM, describe_object, invalid, syntax_error};

/// Whether the reading goes on after an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Where a registry file's bytes come from: opened once per reading.
#[derive(Clone)]
pub enum EntryFile {
    /// A file on disk.
    Path(PathBuf),
    /// Bytes in memory (the bundled registry, a test's file).
    Bytes(Arc<[u8]>),
}

/// How a complete reading went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub kind: FileKind,
    /// Entries read (all of them, unless the callback stopped early).
    pub entries: usize,
    /// Whether the file was read whole instead of streamed (see the module documentation).
    pub whole: bool,
    /// A hash of every byte read: two readings of an unchanged file have the same (a change that keeps the file's
    /// size and modification time included).
    pub digest: u64,
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: std::hash::DefaultHasher,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        std::hash::Hasher::write(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: std::hash::DefaultHasher::new(),
        }
    }

    fn digest(&self) -> u64 {
        std::hash::Hasher::finish(&self.hasher)
    }
}

/// Why reading the entries failed.
#[derive(Debug, thiserror::Error)]
pub enum EntryFileError {
    // The cause is in the message, so it is not also the `source()` (an error chain would print it twice).
    #[error("reading {what}: {error}")]
    Io { what: String, error: io::Error },
    #[error(transparent)]
    File(#[from] RegistryFileError),
}

impl EntryFile {
    /// The file's name in messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::Bytes(_) => "the registry file".to_owned(),
        }
    }

    fn open(&self) -> Result<Box<dyn Read + Send + '_>, EntryFileError> {
        match self {
            Self::Path(p) => std::fs::File::open(p)
                .map(|f| Box::new(f) as Box<dyn Read + Send>)
                .map_err(|source| self.io_error(source)),
            Self::Bytes(b) => Ok(Box::new(&b[..])),
        }
    }

    fn io_error(&self, error: io::Error) -> EntryFileError {
        EntryFileError::Io {
            what: self.describe(),
            error,
        }
    }

    /// Calls `on_entry` with each entry in file order (its index and the entry, as [`ServerDocuments::entry`]
    /// gives it), streaming where the format allows. A syntax error anywhere in the file fails the reading —
    /// possibly after earlier entries were handed out.
    pub fn for_each_entry(
        &self,
        on_entry: &mut dyn FnMut(usize, FileEntry) -> Flow,
    ) -> Result<Reading, EntryFileError> {
        let mut reader = BufReader::with_capacity(64 * 1024, Hashing::new(self.open()?));
        match stream_entries(&mut reader, on_entry) {
            Ok(Some(reading)) => Ok(Reading {
                digest: reader.get_ref().digest(),
                ..reading
            }),
            Ok(None) => self.read_whole(on_entry),
            Err(Failure::Io(e)) => Err(self.io_error(e)),
            Err(Failure::File(e)) => Err(e.into()),
        }
    }

    fn read_whole(
        &self,
        on_entry: &mut dyn FnMut(usize, FileEntry) -> Flow,
    ) -> Result<Reading, EntryFileError> {
        let mut bytes = Vec::new();
        let mut reader = Hashing::new(self.open()?);
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_error(e))?;
        let docs = ServerDocuments::read(&bytes)?;
        let mut entries = 0;
        for i in 0..docs.len() {
            entries += 1;
            if on_entry(i, docs.entry(i)) == Flow::Stop {
                break;
            }
        }
        Ok(Reading {
            kind: docs.kind(),
            entries,
            whole: true,
            digest: reader.digest(),
        })
    }
}

enum Failure {
    Io(io::Error),
    File(RegistryFileError),
}

impl From<serde_json::Error> for Failure {
    /// A failure to read the file, or its syntax error (by line and column).
    fn from(e: serde_json::Error) -> Self {
        if e.is_io() {
            Self::Io(e.into())
        } else {
            Self::File(syntax_error(e))
        }
    }
}

/// Streams the entries of `reader`; `None` when the file must be read whole instead (nothing was handed out
/// then).
fn stream_entries<R: BufRead>(
    mut reader: R,
    on_entry: &mut dyn FnMut(usize, FileEntry) -> Flow,
) -> Result<Option<Reading>, Failure> {
    match first_byte(&mut reader).map_err(Failure::Io)? {
        None => Err(Failure::File(RegistryFileError::Empty)),
        Some(b'[' | b'{') => {
            let mut state = State {
                on_entry,
                entries: 0,
                stopped: false,
                refused: None,
            };
            let mut de = serde_json::Deserializer::from_reader(reader);
            let outcome = match TopSeed(&mut state).deserialize(&mut de) {
                Ok(outcome) => outcome,
                Err(_) if state.refused.is_some() => {
                    return Err(Failure::File(
                        state.refused.take().unwrap_or(RegistryFileError::Empty),
                    ));
                }
                Err(_) if state.stopped => Outcome::Streamed(FileKind::ServerList),
                Err(e) => return Err(e.into()),
            };
            let kind = match outcome {
                Outcome::Whole => return Ok(None),
                Outcome::Unknown(found) => {
                    de.end()?;
                    return Err(Failure::File(RegistryFileError::UnknownFormat { found }));
                }
                Outcome::Streamed(kind) => kind,
            };
            if !state.stopped {
                de.end()?;
            }
            Ok(Some(Reading {
                kind,
                entries: state.entries,
                whole: false,
                digest: 0,
            }))
        }
        // Neither an array nor an object: named after a check of its syntax, without holding it (a large file of
        // anything else, a disk image say, was read whole to say so).
        Some(first) => {
            let found = match first {
                b'"' => "a string",
                b't' | b'f' => "a boolean",
                b'n' => "null",
                _ => "a number",
            };
            let mut de = serde_json::Deserializer::from_reader(reader);
            IgnoredAny::deserialize(&mut de).and_then(|_| de.end())?;
            Err(Failure::File(RegistryFileError::UnknownFormat {
                found: found.to_owned(),
            }))
        }
    }
}

/// The first byte that is not whitespace, after a UTF-8 byte-order mark. Only the mark is consumed (and
/// whitespace filling whole buffers, beyond 64 KB), so that the parser counts lines and columns as the whole
/// reading does.
fn first_byte(reader: &mut impl BufRead) -> io::Result<Option<u8>> {
    let mut at_start = true;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if at_start && buf.starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
            at_start = false;
            continue;
        }
        at_start = false;
        match buf.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(&byte) => return Ok(Some(byte)),
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

struct State<'f> {
    on_entry: &'f mut dyn FnMut(usize, FileEntry) -> Flow,
    entries: usize,
    stopped: bool,
    refused: Option<RegistryFileError>,
}

impl State<'_> {
    /// Ends the reading with an error about the file of `format` (see the module documentation).
    fn refuse<E: de::Error>(&mut self, format: &'static str, path: &str, message: &str) -> E {
        self.refused = Some(invalid(format, path, message));
        E::custom(message)
    }
}

enum Outcome {
    Streamed(FileKind),
    Whole,
    /// An object of no registry format: what it is, for the message.
    Unknown(String),
}

/// The error that ends a reading its callback stopped (never shown).
const STOPPED: &str = "stopped";

/// The file's top level: an array of documents, or an object holding one.
struct TopSeed<'s, 'f>(&'s mut State<'f>);

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = Outcome;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Outcome, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = Outcome;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a registry file")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Outcome, A::Error> {
        stream_array(self.0, seq, Items::Documents(""))?;
        Ok(Outcome::Streamed(FileKind::ServerList))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        // Whether `data` and a top-level `servers` were seen and streamed, and the entries each handed out. A map
        // keeps the last of a key and `data` wins over `servers`, as the whole reading does.
        let (mut data, mut servers): (Option<bool>, Option<bool>) = (None, None);
        let (mut from_data, mut from_servers) = (0, 0);
        // The other keys, and a `name` string, to say what an object of no registry format is.
        let mut others: Map<String, Value> = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let before = self.0.entries;
            match key.as_str() {
                "data" if from_servers > 0 => {
                    return Err(self.0.refuse(
                        UPSTREAM,
                        "data",
                        "the file has both `data` (an upstream registry's servers) and a top-level `servers` \
                         array (a registry API list response's): it can only be one",
                    ));
                }
                "data" if from_data > 0 => {
                    return Err(self
                        .0
                        .refuse(UPSTREAM, "data", "the key `data` appears twice"));
                }
                "servers" if from_servers > 0 => {
                    return Err(self.0.refuse(
                        API_LIST,
                        "servers",
                        "the key `servers` appears twice",
                    ));
                }
                "data" => {
                    data = Some(map.next_value_seed(DataSeed(&mut *self.0))?);
                    from_data = self.0.entries - before;
                }
                "servers" => {
                    servers = Some(map.next_value_seed(ArraySeed {
                        state: &mut *self.0,
                        items: Items::ListItems,
                        // Beside `data`, a `servers` array is left to the whole reading.
                        skip: data.is_some(),
                    })?);
                    from_servers = self.0.entries - before;
                }
                "name" => {
                    let name = map.next_value::<Value>()?;
                    others.insert(key, name);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    others.insert(key, Value::Null);
                }
            }
        }
        Ok(match (data, servers) {
            (Some(true), _) => Outcome::Streamed(FileKind::Upstream),
            (None, Some(true)) => Outcome::Streamed(FileKind::ApiList),
            (None, None) if !others.contains_key("remote_servers") => {
                Outcome::Unknown(describe_object(&others))
            }
            _ => Outcome::Whole,
        })
    }
}

/// The visits of a scalar, for a visitor of a `bool` "was it streamed": no (the whole reading words the error).
macro_rules! not_what_was_expected {
    () => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    };
}

/// An upstream registry's `data`: `true` when its `servers` array was streamed.
struct DataSeed<'s, 'f>(&'s mut State<'f>);

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object {servers: [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let (mut streamed, mut handed_out) = (None, 0);
        while let Some(key) = map.next_key::<String>()? {
            if key == "servers" && handed_out > 0 {
                return Err(self.0.refuse(
                    UPSTREAM,
                    "data.servers",
                    "the key `servers` appears twice",
                ));
            } else if key == "servers" {
                let before = self.0.entries;
                streamed = Some(map.next_value_seed(ArraySeed {
                    state: &mut *self.0,
                    items: Items::Documents("data.servers"),
                    skip: false,
                })?);
                handed_out = self.0.entries - before;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(streamed == Some(true))
    }

    // Not an object: the whole reading words the error.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    not_what_was_expected!();
}

/// What an array holds.
#[derive(Clone, Copy)]
enum Items {
    /// server.json documents, the path's prefix.
    Documents(&'static str),
    /// List response items `{"server", "_meta"}`.
    ListItems,
}

/// An array of entries, streamed: `true`; anything else (a legacy `servers` map, ...): skipped, `false`.
struct ArraySeed<'s, 'f> {
    state: &'s mut State<'f>,
    items: Items,
    /// Skip even an array.
    skip: bool,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of server.json")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        if self.skip {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(false);
        }
        stream_array(self.state, seq, self.items)?;
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    not_what_was_expected!();
}

/// Hands out each element of an array as an entry, as [`ServerDocuments::entry`] builds it.
fn stream_array<'de, A: SeqAccess<'de>>(
    state: &mut State<'_>,
    mut seq: A,
    items: Items,
) -> Result<(), A::Error> {
    while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
        let i = state.entries;
        state.entries += 1;
        let entry = match items {
            Items::Documents(prefix) => {
                let path = format!("{prefix}[{i}]");
                match serde_json::from_str::<Value>(raw.get()) {
                    Ok(value) => FileEntry::from_document(path, value),
                    Err(e) => unreadable(path, &e),
                }
            }
            Items::ListItems => match serde_json::from_str::<Value>(raw.get()) {
                Ok(item) => FileEntry::from_item(&format!("servers[{i}]"), item),
                Err(e) => unreadable(format!("servers[{i}].server"), &e),
            },
        };
        drop(raw);
        if (state.on_entry)(i, entry) == Flow::Stop {
            state.stopped = true;
            return Err(de::Error::custom(STOPPED));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(file: &[u8]) -> Result<(Reading, Vec<FileEntry>), EntryFileError> {
        let mut seen = Vec::new();
        let reading = EntryFile::Bytes(file.into()).for_each_entry(&mut |i, e| {
            assert_eq!(i, seen.len());
            seen.push(e);
            Flow::Continue
        })?;
        Ok((reading, seen))
    }

    /// What the whole reading hands out for the same bytes.
    fn whole_entries(file: &[u8]) -> Vec<FileEntry> {
        let docs = ServerDocuments::read(file).unwrap();
        (0..docs.len()).map(|i| docs.entry(i)).collect()
    }

    const DOC_A: &str = r#"{"name": "io.x/a", "version": "1.0.0", "description": "A"}"#;
    const DOC_B: &str = r#"{"name": "io.x/b", "version": "2.0.0", "description": "B",
        "_meta": {"io.modelcontextprotocol.registry/official": {"status": "deprecated",
        "publishedAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-02T00:00:00Z", "isLatest": true}}}"#;

    #[test]
    fn each_array_format_streams_the_entries_the_whole_reading_gives() {
        let files = [
            (
                format!("\u{feff} [{DOC_A}, {DOC_B}, 7]"),
                FileKind::ServerList,
            ),
            (
                format!(
                    r#"{{"$schema": "x", "meta": {{"a": [1, {{}}]}}, "data": {{"groups": [], "servers": [{DOC_A}, {DOC_B}]}}, "version": "1.0.0"}}"#
                ),
                FileKind::Upstream,
            ),
            (
                format!(
                    r#"{{"servers": [{{"server": {DOC_A}}}, 3, {{"server": {DOC_B}, "_meta": {{"x": 1}}}}], "metadata": {{"count": 2}}}}"#
                ),
                FileKind::ApiList,
            ),
        ];
        for (file, kind) in files {
            let (reading, got) = entries(file.as_bytes()).unwrap();
            assert_eq!(reading.kind, kind, "{file}");
            assert!(!reading.whole, "{file}");
            assert_eq!(reading.entries, got.len());
            assert_eq!(got, whole_entries(file.as_bytes()), "{file}");
        }
    }

    #[test]
    fn other_shapes_are_read_whole_with_the_whole_readings_entries_and_errors() {
        let legacy = r#"{"version": "1.0.0", "last_updated": "2025-01-01T00:00:00Z", "servers": {"fetch": {"description": "Fetches", "image": "ghcr.io/x/fetch:1.0", "transport": "stdio", "tier": "Community", "status": "Active", "tools": ["fetch"]}}}"#;
        let data_first =
            format!(r#"{{"data": {{"servers": []}}, "servers": [{{"server": {DOC_A}}}]}}"#);
        let empty_first = format!(r#"{{"servers": [], "data": {{"servers": [{DOC_B}]}}}}"#);
        // `data` wins over a `servers` array that handed nothing out, as in the whole reading.
        for (file, whole) in [
            (legacy.to_owned(), true),
            (data_first, false),
            (empty_first, false),
        ] {
            let (reading, got) = entries(file.as_bytes()).unwrap();
            assert_eq!(reading.whole, whole, "{file}");
            assert_eq!(got, whole_entries(file.as_bytes()), "{file}");
        }
        for (file, says) in [
            ("", "registry file is empty"),
            ("  \n", "registry file is empty"),
            ("42", "unrecognised registry file: found a number"),
            ("\"x\" ", "unrecognised registry file: found a string"),
            ("nul", "truncated"),
            (
                "\u{0}\u{0}\u{0}",
                "not valid JSON: expected value at line 1, column 1",
            ),
            ("\u{feff}\u{feff}[]", "not valid JSON"),
            (
                r#"{"items": [1, 2, {"a": 3}]}"#,
                "unrecognised registry file: found an object with keys `items`",
            ),
            (
                r#"{"name": "io.x/a", "version": "1"}"#,
                "a single server.json document ('io.x/a')",
            ),
            ("{}", "found an empty object"),
            (r#"{"items": []} x"#, "trailing characters"),
            (r#"{"data": []}"#, "data: expected an object"),
            (r#"{"data": {"servers": {}}}"#, "legacy format"),
            (r#"{"data": {}}"#, "data.servers: missing"),
            ("[{}, ", "truncated"),
            (r#"[{"name": "io.x/a"}] x"#, "trailing characters"),
            (r#"{"data": {"servers": [{"a": }]}}"#, "not valid JSON"),
            (
                r#"{"servers": [{}], "data": {}}"#,
                "data: the file has both `data`",
            ),
            (
                r#"{"data": {"servers": [{}]}, "data": {}}"#,
                "data: the key `data` appears twice",
            ),
            (
                r#"{"data": {"servers": [{}], "servers": []}}"#,
                "data.servers: the key `servers` appears twice",
            ),
        ] {
            let err = entries(file.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(says), "{file:?}: {err}");
        }
    }

    /// A seed compares its two readings' digests: a change that keeps the file's size (and, copied back, its
    /// modification time) was stored unseen when the file's size and time were compared.
    #[test]
    fn a_change_that_keeps_the_size_changes_the_digest() {
        let digest = |file: &str| {
            EntryFile::Bytes(file.as_bytes().into())
                .for_each_entry(&mut |_, _| Flow::Continue)
                .unwrap()
                .digest
        };
        let a = format!("[{DOC_A}]");
        let b = a.replace("io.x/a", "io.x a");
        assert_eq!(a.len(), b.len());
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        let legacy = r#"{"servers": {}, "remote_servers": {}}"#;
        assert_eq!(digest(legacy), digest(legacy), "read whole");
        assert_ne!(digest(legacy), digest(&legacy.replacen(": {}", ":{} ", 1)));
    }

    /// A syntax error is placed where the whole reading places it: leading blank lines count (they were
    /// consumed before the parser started, which then said line 1).
    #[test]
    fn a_syntax_error_is_placed_as_the_whole_reading_places_it() {
        for file in [
            "\n\n  [{}, x",
            "\u{feff}\n{\"data\": {\"servers\": [\n{}, ]}}",
            "\n\n42 x",
            "\n\n[] x",
        ] {
            let streamed = entries(file.as_bytes()).unwrap_err().to_string();
            let whole = ServerDocuments::read(file.as_bytes())
                .err()
                .unwrap()
                .to_string();
            let place = |m: &str| m.rsplit_once(" at ").map(|(_, at)| at.to_owned());
            assert_eq!(
                place(&streamed),
                place(&whole),
                "{file:?}: {streamed} / {whole}"
            );
            assert!(streamed.contains(" at line 3, "), "{streamed}");
        }
    }

    #[test]
    fn a_stop_ends_the_reading_at_once() {
        let file = format!("[{DOC_A}, {DOC_B}, not json");
        let mut seen = 0;
        let reading = EntryFile::Bytes(file.as_bytes().into())
            .for_each_entry(&mut |_, _| {
                seen += 1;
                Flow::Stop
            })
            .unwrap();
        assert_eq!((seen, reading.entries), (1, 1));
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_named() {
        let err = EntryFile::Path("/nonexistent/registry.json".into())
            .for_each_entry(&mut |_, _| Flow::Continue)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("reading /nonexistent/registry.json: "),
            "{err}"
        );
    }
}
