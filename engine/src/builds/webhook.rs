//! Git push webhooks: checking a delivery's signature (before anything else is read) and
//! reading the pushed branch and commit from GitHub's, GitLab's and Bitbucket's payloads.
//!
//! GitHub signs the raw body with HMAC-SHA256 in `X-Hub-Signature-256: sha256=<hex>`;
//! Bitbucket (Server/Data Center) does the same in `X-Hub-Signature`; GitLab sends the secret
//! itself in `X-Gitlab-Token`. Every comparison is constant time (`subtle`). Pure functions:
//! the engine (`Engine::webhook_push`) holds the secret and decides what to build.

use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

/// Who sends the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookProvider {
    /// GitHub (`X-Hub-Signature-256`, `X-GitHub-Delivery`).
    Github,
    /// GitLab (`X-Gitlab-Token`, `X-Gitlab-Event-UUID`).
    Gitlab,
    /// Bitbucket (`X-Hub-Signature`, `X-Request-UUID`).
    Bitbucket,
}

impl WebhookProvider {
    /// The provider named `name` (`github`, `gitlab`, `bitbucket`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "github" => Some(Self::Github),
            "gitlab" => Some(Self::Gitlab),
            "bitbucket" => Some(Self::Bitbucket),
            _ => None,
        }
    }

    /// Its name, as in the webhook's URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Bitbucket => "bitbucket",
        }
    }
}

/// What a provider sent besides the body.
#[derive(Debug, Clone, Default)]
pub struct WebhookDelivery {
    /// The signature header (`X-Hub-Signature-256` / `X-Hub-Signature`) or GitLab's token.
    pub signature: Option<String>,
    /// The delivery's id, for dedupe.
    pub delivery_id: Option<String>,
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// The signature was missing or wrong (or the service has no webhook secret): nothing was
    /// read or built.
    Unauthorized,
    /// This delivery id was seen before: acknowledged, nothing built.
    Duplicate,
    /// Not a push of the service's branch (another branch, a tag, a ping, a deletion).
    Ignored(String),
    /// A build of the pushed commit (a new one, or the one already made for that commit).
    Build(Box<super::BuildRecord>),
}

/// Whether `signature` is `sha256=<hex of HMAC-SHA256(secret, body)>`, in constant time.
pub(crate) fn hmac_matches(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<sha2_hmac::Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    expected.as_slice().ct_eq(&given).into()
}

/// Whether GitLab's token equals the secret, in constant time.
pub(crate) fn token_matches(secret: &[u8], token: &str) -> bool {
    secret.ct_eq(token.as_bytes()).into()
}

/// The signature `hmac_matches` accepts (for tests and senders).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<sha2_hmac::Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A push: the branch and the commit it moved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Push {
    pub branch: String,
    pub commit: String,
    /// The repository's default branch, when the payload says (GitHub, GitLab).
    pub default_branch: Option<String>,
}

/// Reads the pushed branch and commit; `Err` says why the delivery is ignored.
pub(crate) fn parse_push(provider: WebhookProvider, body: &[u8]) -> Result<Push, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON push event: {e}"))?;
    let (reference, commit) = match provider {
        // GitHub and GitLab: `ref` = refs/heads/BRANCH, `after` = the new commit.
        WebhookProvider::Github | WebhookProvider::Gitlab => (
            value["ref"].as_str().map(str::to_owned),
            value["after"].as_str().map(str::to_owned),
        ),
        // Bitbucket Server: `changes[0].ref.id` and `toHash`; Bitbucket Cloud:
        // `push.changes[0].new.name` and `.target.hash`.
        WebhookProvider::Bitbucket => {
            if let Some(change) = value["changes"].get(0) {
                (
                    change["ref"]["id"].as_str().map(str::to_owned),
                    change["toHash"].as_str().map(str::to_owned),
                )
            } else {
                let new = &value["push"]["changes"][0]["new"];
                (
                    new["name"].as_str().map(|n| format!("refs/heads/{n}")),
                    new["target"]["hash"].as_str().map(str::to_owned),
                )
            }
        }
    };
    let reference = reference.ok_or("no pushed reference in the payload (not a push event)")?;
    let Some(branch) = reference.strip_prefix("refs/heads/") else {
        return Err(format!("`{reference}` is not a branch"));
    };
    let commit = commit.ok_or("no pushed commit in the payload")?;
    if commit.chars().all(|c| c == '0') {
        return Err(format!("branch `{branch}` was deleted"));
    }
    if !super::source::is_commit_sha(&commit) {
        return Err(format!("`{commit}` is not a commit SHA"));
    }
    let default_branch = value["repository"]["default_branch"]
        .as_str()
        .or_else(|| value["project"]["default_branch"].as_str())
        .map(str::to_owned);
    Ok(Push {
        branch: branch.to_owned(),
        commit: commit.to_ascii_lowercase(),
        default_branch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = sign(b"s3cret", body);
        assert!(hmac_matches(b"s3cret", body, &good));
        assert!(!hmac_matches(b"other", body, &good));
        assert!(!hmac_matches(b"s3cret", b"tampered", &good));
        assert!(!hmac_matches(b"s3cret", body, "sha1=abc"));
        assert!(!hmac_matches(b"s3cret", body, "sha256=zz"));
        assert!(token_matches(b"tok", "tok"));
        assert!(!token_matches(b"tok", "toK"));
    }

    #[test]
    fn pushes_are_read_per_provider() {
        let sha = "a".repeat(40);
        let github = format!(r#"{{"ref":"refs/heads/main","after":"{sha}"}}"#);
        let push = parse_push(WebhookProvider::Github, github.as_bytes()).unwrap();
        assert_eq!(
            (push.branch.as_str(), push.commit.as_str()),
            ("main", sha.as_str())
        );
        let server =
            format!(r#"{{"changes":[{{"ref":{{"id":"refs/heads/dev"}},"toHash":"{sha}"}}]}}"#);
        assert_eq!(
            parse_push(WebhookProvider::Bitbucket, server.as_bytes())
                .unwrap()
                .branch,
            "dev"
        );
        let cloud = format!(
            r#"{{"push":{{"changes":[{{"new":{{"name":"x","target":{{"hash":"{sha}"}}}}}}]}}}}"#
        );
        assert_eq!(
            parse_push(WebhookProvider::Bitbucket, cloud.as_bytes())
                .unwrap()
                .branch,
            "x"
        );
        let tag = format!(r#"{{"ref":"refs/tags/v1","after":"{sha}"}}"#);
        assert!(parse_push(WebhookProvider::Gitlab, tag.as_bytes()).is_err());
        let deleted = format!(
            r#"{{"ref":"refs/heads/main","after":"{}"}}"#,
            "0".repeat(40)
        );
        assert!(
            parse_push(WebhookProvider::Github, deleted.as_bytes())
                .unwrap_err()
                .contains("deleted")
        );
    }
}
