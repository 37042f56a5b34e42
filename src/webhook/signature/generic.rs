//! Generic HMAC-SHA256 for senders with their own recipe: header, encoding, optional prefix,
//! optional timestamp header and a template of the signed bytes.

use axum::http::HeaderName;
use time::OffsetDateTime;

use super::mac::{self, Presented};
use super::template::{Fields, Template};
use super::{
    ConfigError, Encoding, GenericHmac, IncomingRequest, SignRequest, SignatureError, SignedParts,
    header, timestamp,
};

/// A generic recipe checked once at startup: template compiled, header names normalised to
/// lowercase so errors and signed headers name them the way every other scheme does.
#[derive(Clone, Debug)]
pub(super) struct Recipe {
    template: Template,
    header: HeaderName,
    timestamp_header: Option<HeaderName>,
    id_header: Option<HeaderName>,
}

/// Checks the recipe is usable and safe, and compiles it.
pub(super) fn validate(config: &GenericHmac) -> Result<Recipe, ConfigError> {
    let header = header_name(&config.header, "header")?;
    let timestamp_header = config
        .timestamp_header
        .as_deref()
        .map(|name| header_name(name, "timestamp_header"))
        .transpose()?;
    let id_header = config
        .id_header
        .as_deref()
        .map(|name| header_name(name, "id_header"))
        .transpose()?;
    let template = Template::compile(&config.template)?;
    // A timestamp outside the signed bytes could be rewritten by anyone replaying a request.
    match (timestamp_header.is_some(), template.signs_timestamp()) {
        (true, false) => Err(ConfigError::UnsignedTimestamp),
        (false, true) => Err(ConfigError::MissingTimestampHeader),
        _ => Ok(Recipe {
            template,
            header,
            timestamp_header,
            id_header,
        }),
    }
}

fn header_name(name: &str, field: &'static str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| ConfigError::InvalidHeaderName { field })
}

pub(super) fn presented<'a>(
    config: &'a GenericHmac,
    recipe: &'a Recipe,
    req: &IncomingRequest<'a>,
) -> Result<Presented<'a>, SignatureError> {
    let name = recipe.header.as_str();
    let value = header::required(req.headers, name)?;
    let encoded = match &config.prefix {
        Some(prefix) => strip_prefix(value, prefix)
            .ok_or_else(|| SignatureError::malformed(name, format!("missing {prefix} prefix")))?,
        None => value,
    };
    let signature = mac::decode(config.encoding, encoded).ok_or_else(|| {
        let expected = match config.encoding {
            Encoding::Hex => "signature is not hex",
            Encoding::Base64 => "signature is not base64",
        };
        SignatureError::malformed(name, expected)
    })?;
    let (sent_at, signed_at) = match &recipe.timestamp_header {
        Some(name) => {
            let sent_at = header::required(req.headers, name.as_str())?;
            let signed_at = timestamp::parse(config.timestamp_format, name.as_str(), sent_at)?;
            (sent_at, Some(signed_at))
        }
        None => ("", None),
    };
    let path = req
        .uri
        .path_and_query()
        .map_or(req.uri.path(), |pq| pq.as_str());
    let fields = Fields {
        body: req.body,
        timestamp: sent_at,
        method: req.method.as_str(),
        path,
    };
    let event_id = match &recipe.id_header {
        Some(name) => header::event_id(req.headers, name.as_str())?,
        None => None,
    };
    Ok(Presented {
        message: recipe.template.message(fields),
        signatures: vec![signature],
        timestamp: signed_at,
        event_id,
        id_is_signed: false,
    })
}

/// Senders differ in the case of prefixes like `sha256=`; the case carries no meaning.
fn strip_prefix<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| value.get(prefix.len()..))
        .flatten()
}

pub(super) fn sign(
    config: &GenericHmac,
    recipe: &Recipe,
    key: &[u8],
    req: &SignRequest<'_>,
    now: OffsetDateTime,
) -> Result<SignedParts, SignatureError> {
    let sent_at = match &recipe.timestamp_header {
        Some(name) => Some((
            name.as_str().to_owned(),
            timestamp::format(config.timestamp_format, name.as_str(), now)?,
        )),
        None => None,
    };
    let fields = Fields {
        body: req.body,
        timestamp: sent_at.as_ref().map_or("", |(_, text)| text.as_str()),
        method: req.method.as_str(),
        path: req.path_and_query,
    };
    let tag = mac::tag(key, &recipe.template.message(fields))?;
    let prefix = config.prefix.as_deref().unwrap_or_default();
    let value = format!("{prefix}{}", mac::encode(config.encoding, &tag));
    let mut headers = vec![(recipe.header.as_str().to_owned(), value)];
    headers.extend(sent_at);
    if let (Some(name), Some(id)) = (&recipe.id_header, req.event_id) {
        headers.push((name.as_str().to_owned(), id.to_owned()));
    }
    Ok(SignedParts {
        headers,
        query: None,
    })
}

#[cfg(test)]
mod tests;
