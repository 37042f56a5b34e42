//! How a source authenticates its requests, as written in config.

use serde::Deserialize;

/// A source's authentication scheme. Unknown `type`s and fields are config errors, so a typo
/// can never silently weaken verification.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(from = "SchemeConfig")]
pub enum Scheme {
    /// Standard Webhooks (`webhook-*` headers) or Svix (`svix-*` headers).
    StandardWebhooks {
        #[serde(default)]
        header_names: StandardHeaderNames,
    },
    Stripe,
    Github,
    Shopify,
    HubspotV3 {
        /// The URL the sender posts to, as the sender sees it (scheme, host, path; no query).
        /// Behind a proxy the bridge sees another host, so this is never rebuilt from `Host`.
        public_url: String,
    },
    Zendesk,
    Slack,
    /// Generic HMAC-SHA256 for senders that document their own recipe.
    Hmac(GenericHmac),
    /// HTTP Basic; each secret is `username:password`.
    Basic,
    /// A static header; the secret is the whole header value.
    HeaderToken {
        header: String,
    },
    /// A query parameter such as `?code=`; the secret is its decoded value.
    QueryKey {
        param: String,
    },
    /// Accept everything. Only for local use: the caller must log it loudly.
    None,
}

/// `Scheme` as read from config. serde ignores extra fields beside the tag of a unit variant,
/// even with `deny_unknown_fields`, so every variant here has braces to make them errors.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum SchemeConfig {
    StandardWebhooks {
        #[serde(default)]
        header_names: StandardHeaderNames,
    },
    Stripe {},
    Github {},
    Shopify {},
    HubspotV3 {
        public_url: String,
    },
    Zendesk {},
    Slack {},
    Hmac(GenericHmac),
    Basic {},
    HeaderToken {
        header: String,
    },
    QueryKey {
        param: String,
    },
    None {},
}

impl From<SchemeConfig> for Scheme {
    fn from(config: SchemeConfig) -> Self {
        match config {
            SchemeConfig::StandardWebhooks { header_names } => {
                Self::StandardWebhooks { header_names }
            }
            SchemeConfig::Stripe {} => Self::Stripe,
            SchemeConfig::Github {} => Self::Github,
            SchemeConfig::Shopify {} => Self::Shopify,
            SchemeConfig::HubspotV3 { public_url } => Self::HubspotV3 { public_url },
            SchemeConfig::Zendesk {} => Self::Zendesk,
            SchemeConfig::Slack {} => Self::Slack,
            SchemeConfig::Hmac(generic) => Self::Hmac(generic),
            SchemeConfig::Basic {} => Self::Basic,
            SchemeConfig::HeaderToken { header } => Self::HeaderToken { header },
            SchemeConfig::QueryKey { param } => Self::QueryKey { param },
            SchemeConfig::None {} => Self::None,
        }
    }
}

/// Which header family a Standard Webhooks sender uses.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StandardHeaderNames {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    #[default]
    Webhook,
    /// `svix-id`, `svix-timestamp`, `svix-signature`.
    Svix,
}

impl StandardHeaderNames {
    pub(super) fn id(self) -> &'static str {
        match self {
            Self::Webhook => "webhook-id",
            Self::Svix => "svix-id",
        }
    }

    pub(super) fn timestamp(self) -> &'static str {
        match self {
            Self::Webhook => "webhook-timestamp",
            Self::Svix => "svix-timestamp",
        }
    }

    pub(super) fn signature(self) -> &'static str {
        match self {
            Self::Webhook => "webhook-signature",
            Self::Svix => "svix-signature",
        }
    }
}

/// A generic HMAC-SHA256 recipe.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GenericHmac {
    /// The header carrying the signature.
    pub header: String,
    pub encoding: Encoding,
    /// Text before the signature in the header value, e.g. `sha256=`; required when set.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The header carrying the timestamp; when set, the template must sign `{timestamp}`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    #[serde(default)]
    pub timestamp_format: TimestampFormat,
    /// The signed bytes: `{body}`, `{timestamp}` (as sent), `{method}` and `{path}` (path and
    /// query as received) are replaced, any other text is literal.
    #[serde(default = "default_template")]
    pub template: String,
    /// The header carrying the sender's event id, if any.
    #[serde(default)]
    pub id_header: Option<String>,
}

fn default_template() -> String {
    "{body}".to_owned()
}

/// How a generic signature is written in its header.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Either case accepted; lowercase produced.
    Hex,
    /// Standard alphabet with padding.
    Base64,
}

/// How a generic timestamp header is written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    #[default]
    Seconds,
    Milliseconds,
    Rfc3339,
}

impl Scheme {
    /// A stable name for logs and errors.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::StandardWebhooks { .. } => "standard_webhooks",
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Shopify => "shopify",
            Self::HubspotV3 { .. } => "hubspot_v3",
            Self::Zendesk => "zendesk",
            Self::Slack => "slack",
            Self::Hmac(_) => "hmac",
            Self::Basic => "basic",
            Self::HeaderToken { .. } => "header_token",
            Self::QueryKey { .. } => "query_key",
            Self::None => "none",
        }
    }

    /// Whether the scheme compares a shared credential rather than a MAC over the body.
    #[must_use]
    pub fn is_credential(&self) -> bool {
        matches!(
            self,
            Self::Basic | Self::HeaderToken { .. } | Self::QueryKey { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Scheme, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn standard_webhooks_defaults_to_webhook_header_names() {
        let scheme = parse(r#"{"type":"standard_webhooks"}"#).unwrap();
        let expected = Scheme::StandardWebhooks {
            header_names: StandardHeaderNames::Webhook,
        };
        assert_eq!(scheme, expected);
        let svix = parse(r#"{"type":"standard_webhooks","header_names":"svix"}"#).unwrap();
        let expected = Scheme::StandardWebhooks {
            header_names: StandardHeaderNames::Svix,
        };
        assert_eq!(svix, expected);
    }

    #[test]
    fn generic_hmac_fills_defaults() {
        let scheme = parse(r#"{"type":"hmac","header":"x-sig","encoding":"hex"}"#).unwrap();
        let Scheme::Hmac(generic) = scheme else {
            panic!("expected hmac, got {scheme:?}");
        };
        assert_eq!(generic.template, "{body}");
        assert_eq!(generic.timestamp_format, TimestampFormat::Seconds);
        assert_eq!(generic.prefix, None);
        assert_eq!(generic.id_header, None);
    }

    #[test]
    fn rejects_unknown_types_and_fields() {
        assert!(parse(r#"{"type":"md5"}"#).is_err());
        assert!(parse(r#"{"type":"github","secret":"x"}"#).is_err());
        assert!(parse(r#"{"type":"none","header":"x"}"#).is_err());
        assert!(parse(r#"{"type":"standard_webhooks","header_name":"svix"}"#).is_err());
        assert!(parse(r#"{"type":"hmac","header":"x","encoding":"hex","salt":"y"}"#).is_err());
        assert!(parse(r#"{"type":"hubspot_v3"}"#).is_err());
    }

    #[test]
    fn parses_credential_schemes_and_none() {
        assert_eq!(parse(r#"{"type":"basic"}"#).unwrap(), Scheme::Basic);
        assert_eq!(parse(r#"{"type":"stripe"}"#).unwrap(), Scheme::Stripe);
        assert_eq!(parse(r#"{"type":"none"}"#).unwrap(), Scheme::None);
        let key = parse(r#"{"type":"query_key","param":"code"}"#).unwrap();
        assert_eq!(
            key,
            Scheme::QueryKey {
                param: "code".to_owned()
            }
        );
        assert!(key.is_credential());
        assert!(!Scheme::Stripe.is_credential());
    }
}
