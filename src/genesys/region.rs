//! Genesys Cloud regions: a region name or an org's domain → the API and login hosts.

use std::fmt;

/// The 18 regions of `genesys-api.md`, as (region name, domain). The API host is `api.{domain}`,
/// the login host `login.{domain}`.
const REGIONS: [(&str, &str); 18] = [
    ("us_east_1", "mypurecloud.com"),
    ("us_east_2", "use2.us-gov-pure.cloud"),
    ("us_west_2", "usw2.pure.cloud"),
    ("ca_central_1", "cac1.pure.cloud"),
    ("sa_east_1", "sae1.pure.cloud"),
    ("mx_central_1", "mxc1.pure.cloud"),
    ("eu_west_1", "mypurecloud.ie"),
    ("eu_west_2", "euw2.pure.cloud"),
    ("eu_central_1", "mypurecloud.de"),
    ("eu_central_2", "euc2.pure.cloud"),
    ("eusc_de_east_1", "edee1.eusc-pure.cloud"),
    ("me_central_1", "mec1.pure.cloud"),
    ("ap_south_1", "aps1.pure.cloud"),
    ("ap_southeast_1", "apse1.pure.cloud"),
    ("ap_southeast_2", "mypurecloud.com.au"),
    ("ap_northeast_1", "mypurecloud.jp"),
    ("ap_northeast_2", "apne2.pure.cloud"),
    ("ap_northeast_3", "apne3.pure.cloud"),
];

/// A Genesys Cloud region, known by name (`eu_west_1`) or by its domain (`mypurecloud.ie`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    name: &'static str,
    domain: &'static str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown Genesys region {input:?}: use a region name such as eu_west_1 or an org domain such as mypurecloud.ie"
)]
pub struct UnknownRegion {
    pub input: String,
}

impl Region {
    /// Accepts `eu_west_1`, `eu-west-1`, `EU_WEST_1`, `mypurecloud.ie`, `api.mypurecloud.ie`,
    /// `login.mypurecloud.ie` and `https://api.mypurecloud.ie/`: users copy whichever they have.
    pub fn parse(input: &str) -> Result<Self, UnknownRegion> {
        let trimmed = input.trim().trim_end_matches('/');
        let host = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .unwrap_or(trimmed)
            .to_ascii_lowercase();
        let domain = host
            .strip_prefix("api.")
            .or_else(|| host.strip_prefix("login."))
            .unwrap_or(&host);
        let name = domain.replace('-', "_");
        REGIONS
            .iter()
            .find(|(n, d)| *n == name || *d == domain)
            .map(|&(name, domain)| Region { name, domain })
            .ok_or_else(|| UnknownRegion {
                input: input.to_owned(),
            })
    }

    pub fn all() -> impl Iterator<Item = Region> {
        REGIONS
            .iter()
            .map(|&(name, domain)| Region { name, domain })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn api_base_url(&self) -> String {
        format!("https://api.{}", self.domain)
    }

    pub fn login_base_url(&self) -> String {
        format!("https://login.{}", self.domain)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.domain)
    }
}

/// Where the client sends API calls and token requests. Built from a region, or from explicit base
/// URLs (the simulator and tests), or a region with either host overridden.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    api_base_url: String,
    login_base_url: String,
}

impl Endpoints {
    pub fn for_region(region: Region) -> Self {
        Self::new(region.api_base_url(), region.login_base_url())
    }

    /// Trailing slashes are dropped so paths can be appended as written in the contract.
    pub fn new(api_base_url: impl Into<String>, login_base_url: impl Into<String>) -> Self {
        let tidy = |s: String| s.trim_end_matches('/').to_owned();
        Self {
            api_base_url: tidy(api_base_url.into()),
            login_base_url: tidy(login_base_url.into()),
        }
    }

    pub fn api_base_url(&self) -> &str {
        &self.api_base_url
    }

    pub fn login_base_url(&self) -> &str {
        &self.login_base_url
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.login_base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_resolves_by_name_and_by_domain_to_the_same_hosts() {
        assert_eq!(Region::all().count(), 18);
        for region in Region::all() {
            let by_domain = Region::parse(&region.api_base_url()).unwrap();
            assert_eq!(Region::parse(region.name()).unwrap(), region);
            assert_eq!(by_domain, region);
            assert!(region.login_base_url().starts_with("https://login."));
        }
    }

    #[test]
    fn accepts_the_spellings_users_paste() {
        let ie = Region::parse("eu_west_1").unwrap();
        for spelling in [
            "EU-WEST-1",
            "mypurecloud.ie",
            "api.mypurecloud.ie",
            "login.mypurecloud.ie",
            "https://api.mypurecloud.ie/",
            " mypurecloud.ie ",
        ] {
            assert_eq!(Region::parse(spelling).unwrap(), ie, "{spelling}");
        }
        assert_eq!(ie.api_base_url(), "https://api.mypurecloud.ie");
        assert_eq!(ie.login_base_url(), "https://login.mypurecloud.ie");
        assert_eq!(
            Region::parse("usw2.pure.cloud").unwrap().name(),
            "us_west_2"
        );
    }

    #[test]
    fn rejects_an_unknown_region_with_a_hint() {
        let err = Region::parse("mars_north_1").unwrap_err();
        assert!(err.to_string().contains("eu_west_1"));
    }

    #[test]
    fn endpoints_drop_trailing_slashes() {
        let e = Endpoints::new("http://127.0.0.1:9/", "http://127.0.0.1:9/");
        assert_eq!(e.token_url(), "http://127.0.0.1:9/oauth/token");
    }
}
