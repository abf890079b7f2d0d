//! Git push webhooks: a per-service secret in the secret store (made and rotated on request,
//! shown once) and a delivery turned into at most one build per commit.

use secrecy::{ExposeSecret as _, SecretString};

use super::Engine;
use crate::builds::webhook::{self, WebhookDelivery, WebhookOutcome, WebhookProvider};
use crate::{EngineError, ServiceSpec};

/// The secret-store name of a service's webhook secret.
pub fn webhook_secret_name(stack: &str, service: &str) -> String {
    let name = format!("webhook.{stack}.{service}");
    if name.len() <= 64 {
        return name;
    }
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(format!("{stack}/{service}")));
    format!("webhook.{}", &digest[..32])
}

impl Engine {
    /// Makes (or replaces: rotation) the webhook secret of a service with a build source and
    /// returns it: the only time it is shown. Needs the engine's secrets key.
    pub async fn rotate_webhook_secret(
        &self,
        org: &str,
        stack: &str,
        service: &str,
        actor: &str,
    ) -> Result<SecretString, EngineError> {
        self.build_source_of(org, stack, service).await?;
        let value = hex::encode(rand::random::<[u8; 32]>());
        let secret = SecretString::from(value);
        self.set_secret(
            org,
            &webhook_secret_name(stack, service),
            secret.clone(),
            actor,
        )
        .await?;
        Ok(secret)
    }

    /// Handles one push delivery for a service: the signature is checked first (a missing
    /// secret, signature or match is [`WebhookOutcome::Unauthorized`] and nothing else is
    /// looked at); a delivery id seen before is [`WebhookOutcome::Duplicate`]; a push to
    /// another branch is ignored; otherwise the pushed commit is built once, however many
    /// deliveries name it.
    pub async fn webhook_push(
        &self,
        provider: WebhookProvider,
        org: &str,
        stack: &str,
        service: &str,
        delivery: &WebhookDelivery,
        body: &[u8],
    ) -> Result<WebhookOutcome, EngineError> {
        let Some(signature) = delivery.signature.as_deref() else {
            return Ok(WebhookOutcome::Unauthorized);
        };
        let name = webhook_secret_name(stack, service);
        let secret = match self.secret(org, &name).await {
            Ok(info) => super::read_secret(&self.inner.ctx, org, &name, info.latest_version).await,
            Err(error) => Err(error),
        };
        let Ok(secret) = secret else {
            return Ok(WebhookOutcome::Unauthorized);
        };
        let key = secret.expose_secret().as_bytes();
        let verified = match provider {
            WebhookProvider::Github | WebhookProvider::Bitbucket => {
                webhook::hmac_matches(key, body, signature)
            }
            WebhookProvider::Gitlab => webhook::token_matches(key, signature),
        };
        if !verified {
            return Ok(WebhookOutcome::Unauthorized);
        }
        if let Some(id) = delivery.delivery_id.as_deref()
            && !self
                .record_webhook_delivery(
                    provider.as_str(),
                    &format!("{org}/{stack}/{service}/{id}"),
                )
                .await?
        {
            return Ok(WebhookOutcome::Duplicate);
        }
        let push = match webhook::parse_push(provider, body) {
            Ok(push) => push,
            Err(reason) => return Ok(WebhookOutcome::Ignored(reason)),
        };
        let source = self.build_source_of(org, stack, service).await?;
        let wanted = source.reference.clone().or(push.default_branch.clone());
        match wanted {
            Some(branch) if branch == push.branch => {}
            Some(branch) => {
                return Ok(WebhookOutcome::Ignored(format!(
                    "a push to `{}`; the service builds `{branch}`",
                    push.branch
                )));
            }
            None => {
                return Ok(WebhookOutcome::Ignored(format!(
                    "a push to `{}`; the service's source names no branch and the payload no default branch",
                    push.branch
                )));
            }
        }
        let dedupe = format!("{org}/{stack}/{service}@{}", push.commit);
        let record = self
            .enqueue_build(
                org,
                stack,
                service,
                source,
                Some(push.commit),
                &format!("webhook-{}", provider.as_str()),
                Some(&dedupe),
            )
            .await?;
        Ok(WebhookOutcome::Build(Box::new(record)))
    }

    /// The build source of a declared service.
    pub(crate) async fn build_source_of(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<crate::builds::BuildSource, EngineError> {
        let Some(desired) = self
            .inner
            .ctx
            .store
            .get_desired_service(org, stack, service)
            .await?
        else {
            return Err(EngineError::NotFound {
                what: format!("service {org}/{stack}/{service}"),
            });
        };
        let spec: ServiceSpec = serde_json::from_value(desired.spec)
            .map_err(|e| EngineError::Config(format!("stored spec unreadable: {e}")))?;
        spec.build.ok_or_else(|| EngineError::Conflict {
            what: format!(
                "service {org}/{stack}/{service} has no build source (declare `build = {{ repository = … }}`)"
            ),
        })
    }
}
