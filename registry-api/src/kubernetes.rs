//! The Kubernetes API as the registry uses it (the `configmap` sync source, the ConfigMap storage): the client,
//! with the credentials `kube` infers, and its errors in words that leak no credentials.

/// No client could be made: where credentials were looked for, in parentheses, and why none served (without
/// what a kubeconfig parser quotes of the file).
#[derive(Debug, thiserror::Error)]
#[error("(in-cluster service account or KUBECONFIG): {0}")]
pub struct NoClient(String);

/// A client with the pod's service account in a cluster, else `KUBECONFIG` or `~/.kube/config`.
pub async fn client() -> Result<kube::Client, NoClient> {
    kube::Client::try_default()
        .await
        .map_err(|e| NoClient(without_quoted_config(&e.to_string())))
}

/// A kubeconfig error without what its YAML parser quotes of the file (the lines around the fault, which may
/// hold a token or a key).
fn without_quoted_config(message: &str) -> String {
    const PARSE: &str = "failed to parse kubeconfig YAML";
    match message.find(PARSE) {
        Some(at) => format!(
            "{}{PARSE} (the parser's message is left out: it quotes the file, credentials included))",
            &message[..at]
        ),
        None => message.to_owned(),
    }
}

/// What the Kubernetes API said: its status message and code (kube's own text repeats the whole status).
pub fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("HTTP {}: {}", status.code, status.message),
        other => other.to_string(),
    }
}
