//! An error with its causes on one line, for messages whose top level says too little
//! (hyper's "client error", tokio-postgres's "error performing TLS handshake").

/// `error: cause: cause's cause`, leaving out a cause whose text the line already ends with
/// (wrappers such as deadpool's repeat their source in their own message).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    fn layer(text: &'static str, cause: Option<Layer>) -> Layer {
        Layer {
            text,
            cause: cause.map(Box::new),
        }
    }

    #[test]
    fn causes_follow_once_each() {
        let root = layer("invalid peer certificate: NotValidForName", None);
        let handshake = layer("error performing TLS handshake", Some(root));
        let pool = layer(
            "creating a new object: error performing TLS handshake",
            Some(handshake),
        );
        assert_eq!(
            error_chain(&pool),
            "creating a new object: error performing TLS handshake: invalid peer certificate: NotValidForName"
        );
        assert_eq!(error_chain(&layer("alone", None)), "alone");
    }
}
