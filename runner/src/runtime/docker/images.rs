//! Moving whole images in and out of the engine: `POST /images/load` (an OCI layout tar or `docker save`'s
//! format, streamed from a file) and `GET /images/{name}/get` (`docker save`'s format, streamed to a file).

use std::path::Path;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use futures::StreamExt;

use super::map_err;
use crate::runtime::{BuildProgress, RuntimeError, SpecError};

/// Loads the images of the archive file; the names the engine reports loaded.
pub(super) async fn load(docker: &Docker, archive: &Path) -> Result<Vec<String>, RuntimeError> {
    let failed = |message: String| RuntimeError::LoadFailed {
        archive: archive.display().to_string(),
        message,
    };
    let file = tokio::fs::File::open(archive).await?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
    let options = bollard::query_parameters::ImportImageOptionsBuilder::default()
        .quiet(true)
        .build();
    let mut stream = docker.import_image(options, body, None);
    let mut loaded = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                for line in [info.stream, info.status].into_iter().flatten() {
                    for name in line
                        .lines()
                        .filter_map(|l| l.trim().strip_prefix("Loaded image: "))
                    {
                        loaded.push(name.trim().to_owned());
                    }
                }
            }
            Err(BollardError::DockerResponseServerError { message, .. }) => {
                return Err(failed(message));
            }
            Err(BollardError::DockerStreamError { error }) => return Err(failed(error)),
            Err(e) => return Err(map_err(e, &archive.display().to_string())),
        }
    }
    Ok(loaded)
}

/// Writes the image to the file `to`.
pub(super) async fn export(docker: &Docker, image: &str, to: &Path) -> Result<(), RuntimeError> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(to).await?;
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => file.write_all(&bytes).await?,
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => return Err(RuntimeError::ImageNotFound(image.to_owned())),
            Err(e) => return Err(map_err(e, image)),
        }
    }
    file.sync_all().await?;
    Ok(())
}

/// Names `source` `target` too.
pub(super) async fn tag(docker: &Docker, source: &str, target: &str) -> Result<(), RuntimeError> {
    let (repo, tag) = match target.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (target, "latest"),
    };
    let options = bollard::query_parameters::TagImageOptionsBuilder::new()
        .repo(repo)
        .tag(tag)
        .build();
    docker
        .tag_image(source, Some(options))
        .await
        .map_err(|e| map_err(e, source))
}

/// Removes the untagged images carrying `label` (a build's intermediate images); how many went.
pub(super) async fn prune_labelled(docker: &Docker, label: &str) -> Result<u64, RuntimeError> {
    let filters =
        std::collections::HashMap::from([("label", vec![label]), ("dangling", vec!["true"])]);
    let options = bollard::query_parameters::PruneImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let pruned = docker
        .prune_images(Some(options))
        .await
        .map_err(|e| map_err(e, label))?;
    Ok(pruned.images_deleted.map_or(0, |d| d.len() as u64))
}

/// Pulls an image (`POST /images/create`) with the credentials stored for its registry, handing each status line
/// to `progress`; the parsed reference, for the caller's check that the image exists now.
pub(super) async fn pull(
    docker: &Docker,
    image: &str,
    progress: BuildProgress<'_>,
) -> Result<thv_core::image_ref::ImageRef, RuntimeError> {
    let parsed =
        thv_core::image_ref::ImageRef::parse(image).map_err(|message| SpecError::Invalid {
            what: "image".to_owned(),
            message: message.to_string(),
        })?;
    let failed = |message: String| RuntimeError::PullFailed {
        image: image.to_owned(),
        message,
    };
    let from = format!("{}/{}", parsed.registry, parsed.repository);
    let options = match (&parsed.digest, parsed.effective_tag()) {
        (Some(d), _) => bollard::query_parameters::CreateImageOptionsBuilder::new()
            .from_image(&format!("{from}@{d}"))
            .build(),
        (None, tag) => bollard::query_parameters::CreateImageOptionsBuilder::new()
            .from_image(&from)
            .tag(tag.unwrap_or("latest"))
            .build(),
    };
    // The engine gets the credentials `podman login` / `docker login` stored for the registry (a Docker
    // daemon does not read the client's files itself).
    let credentials = thv_core::oci::auth::for_registry(&parsed.registry).map(|c| {
        bollard::auth::DockerCredentials {
            username: Some(c.username),
            password: Some(c.password),
            serveraddress: Some(parsed.registry.clone()),
            ..Default::default()
        }
    });
    let mut stream = docker.create_image(Some(options), None, credentials);
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    return Err(failed(e));
                }
                if let Some(status) = info.status {
                    let line = match info.id {
                        Some(id) => format!("{id}: {status}"),
                        None => status,
                    };
                    progress(&line);
                }
            }
            Err(BollardError::DockerResponseServerError { message, .. }) => {
                return Err(failed(message));
            }
            Err(BollardError::DockerStreamError { error }) => return Err(failed(error)),
            Err(e) => return Err(map_err(e, image)),
        }
    }
    Ok(parsed)
}
