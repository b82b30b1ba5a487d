//! Image builds through the engine: `POST /build` with a tar context, its output streamed line by line.

use std::collections::BTreeMap;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::BuildImageOptions;
use futures::StreamExt;

use super::map_err;
use crate::runtime::{BuildProgress, ImageBuildOptions, RuntimeError};

/// Builds `options.tag` from the context, handing each line of the engine's output to `progress`; a failed
/// step is [`RuntimeError::BuildFailed`]. Whether the image exists afterwards is the caller's check.
pub(super) async fn run(
    docker: &Docker,
    context_tar: Vec<u8>,
    options: &ImageBuildOptions,
    progress: BuildProgress<'_>,
) -> Result<(), RuntimeError> {
    let tag = options.tag.as_str();
    let body = bollard::body_full(context_tar.into());
    let mut stream = docker.build_image(build_query(options), None, Some(body));
    let mut partial = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                for chunk in [info.stream, info.status].into_iter().flatten() {
                    emit_lines(&mut partial, &chunk, &mut *progress);
                }
            }
            Err(e) => {
                emit_lines(&mut partial, "\n", &mut *progress);
                return Err(map_build_err(e, tag));
            }
        }
    }
    emit_lines(&mut partial, "\n", &mut *progress);
    Ok(())
}

/// Maps an error of `/build`: the engine's build error (a failed step, an invalid Dockerfile, a missing base
/// image) is [`RuntimeError::BuildFailed`].
fn map_build_err(e: BollardError, tag: &str) -> RuntimeError {
    match e {
        BollardError::DockerStreamError { error } => RuntimeError::BuildFailed {
            tag: tag.to_owned(),
            message: error.trim().to_owned(),
        },
        // Podman answers some build errors (an unparsable Dockerfile) with a status instead of a stream error.
        BollardError::DockerResponseServerError {
            status_code: 400 | 500,
            message,
        } => RuntimeError::BuildFailed {
            tag: tag.to_owned(),
            message: message.trim().to_owned(),
        },
        other => map_err(other, tag),
    }
}

/// The query of `/build` for these options.
fn build_query(options: &ImageBuildOptions) -> BuildImageOptions {
    let map = |m: &BTreeMap<String, String>| {
        (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    };
    BuildImageOptions {
        dockerfile: if options.dockerfile.is_empty() {
            "Dockerfile".to_owned()
        } else {
            options.dockerfile.clone()
        },
        t: Some(options.tag.clone()),
        nocache: options.no_cache,
        pull: options.pull.then(|| "true".to_owned()),
        rm: true,
        forcerm: true,
        labels: map(&options.labels),
        buildargs: map(&options.build_args),
        ..Default::default()
    }
}

/// Appends a chunk of build output to `partial` and hands every completed, non-empty line to `progress`.
fn emit_lines(partial: &mut String, chunk: &str, progress: &mut (dyn FnMut(&str) + Send)) {
    partial.push_str(chunk);
    while let Some(nl) = partial.find('\n') {
        let line: String = partial.drain(..=nl).collect();
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            progress(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_is_split_into_lines() {
        let mut got = Vec::new();
        let mut partial = String::new();
        let mut progress = |l: &str| got.push(l.to_owned());
        emit_lines(
            &mut partial,
            "STEP 1/2: FROM x\nSTEP 2/2: RU",
            &mut progress,
        );
        emit_lines(&mut partial, "N true\r\n\n  \nlast", &mut progress);
        emit_lines(&mut partial, "\n", &mut progress);
        assert_eq!(got, ["STEP 1/2: FROM x", "STEP 2/2: RUN true", "last"]);
        let q = build_query(&ImageBuildOptions {
            tag: "localhost/x:1".into(),
            ..Default::default()
        });
        assert_eq!(q.dockerfile, "Dockerfile");
        assert_eq!(q.pull, None);
        assert!(q.labels.is_none() && q.rm && q.forcerm && !q.nocache);
        let q = build_query(&ImageBuildOptions {
            tag: "localhost/x:1".into(),
            dockerfile: "build/Dockerfile".into(),
            no_cache: true,
            pull: true,
            labels: [("a".to_owned(), "b".to_owned())].into(),
            ..Default::default()
        });
        assert_eq!(q.dockerfile, "build/Dockerfile");
        assert_eq!(q.pull.as_deref(), Some("true"));
        assert!(q.nocache);
        assert_eq!(q.labels.unwrap()["a"], "b");
    }
}
