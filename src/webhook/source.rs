//! A configured integration: how its requests are verified, where its ids are, and how its
//! fields translate into participant attributes.

use axum::http::HeaderMap;
use time::OffsetDateTime;

use super::event::Extraction;
use super::mapping::MappingTable;
use super::signature::{IncomingRequest, SignatureError, Verified, Verifier};

#[derive(Debug)]
pub struct Source {
    name: String,
    verifier: Verifier,
    extraction: Extraction,
    mapping: MappingTable,
}

/// A request whose signature (or credential) checked out. Only [`Source::verify`] makes one, so
/// bytes that were not verified cannot reach parsing, mapping or delivery.
#[derive(Debug)]
pub struct VerifiedRequest<'r> {
    body: &'r [u8],
    headers: &'r HeaderMap,
    proof: Verified,
}

impl<'r> VerifiedRequest<'r> {
    pub fn body(&self) -> &'r [u8] {
        self.body
    }

    pub fn headers(&self) -> &'r HeaderMap {
        self.headers
    }

    pub fn proof(&self) -> &Verified {
        &self.proof
    }
}

impl Source {
    pub fn new(
        name: impl Into<String>,
        verifier: Verifier,
        extraction: Extraction,
        mapping: MappingTable,
    ) -> Self {
        Self {
            name: name.into(),
            verifier,
            extraction,
            mapping,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn extraction(&self) -> &Extraction {
        &self.extraction
    }

    pub fn mapping(&self) -> &MappingTable {
        &self.mapping
    }

    pub fn verify<'r>(
        &self,
        request: IncomingRequest<'r>,
        now: OffsetDateTime,
    ) -> Result<VerifiedRequest<'r>, SignatureError> {
        let proof = self.verifier.verify(&request, now)?;
        Ok(VerifiedRequest {
            body: request.body,
            headers: request.headers,
            proof,
        })
    }
}
