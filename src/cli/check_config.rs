//! `genesys-bridge check-config`: the loaded configuration, secrets redacted, or every problem.

use std::fmt::Write as _;

use crate::config::{Settings, describe_source};

pub fn summary(settings: &Settings) -> String {
    let mut out = String::new();
    let g = &settings.genesys;
    let c = &g.client;
    let _ = writeln!(out, "configuration OK (profile {})", settings.profile);
    let _ = writeln!(
        out,
        "server      {}:{} (max body {} bytes, request timeout {:?}, shutdown grace {:?})",
        settings.server.host,
        settings.server.port,
        settings.server.max_body_bytes,
        settings.server.request_timeout,
        settings.server.shutdown_grace
    );
    let _ = writeln!(
        out,
        "log         {:?}, level {:?}",
        settings.log.format, settings.log.level
    );
    match &g.endpoints {
        Some(e) => {
            let _ = writeln!(
                out,
                "genesys     api {} · login {}",
                e.api_base_url(),
                e.login_base_url()
            );
        }
        None => {
            let _ = writeln!(out, "genesys     the in-process simulator");
        }
    }
    let _ = writeln!(
        out,
        "            client_id {:?}, client_secret [redacted]",
        c.client_id
    );
    let _ = writeln!(
        out,
        "            purposes {:?}; timeouts connect {:?} request {:?}; token refresh margin {:?}",
        c.participant_purposes, c.connect_timeout, c.request_timeout, c.token_refresh_margin
    );
    let _ = writeln!(
        out,
        "            retry: {} attempts within {:?}, backoff {:?}..{:?}; rate budget {}",
        c.retry.max_attempts,
        c.retry.max_elapsed,
        c.retry.initial_backoff,
        c.retry.max_backoff,
        match c.rate_budget.limit {
            Some(n) => format!("{n} per {:?}", c.rate_budget.window),
            None => "unlimited".to_owned(),
        }
    );
    let (q, d) = (&settings.queue, &settings.delivery);
    let _ = writeln!(
        out,
        "queue       store {} · {} workers · retries for {:?} · idempotency window {:?}",
        q.store.describe(),
        d.workers,
        d.retry.horizon,
        q.idempotency_window
    );
    let _ = writeln!(
        out,
        "admin       ops API {} (token [redacted]); attribute values {}",
        if settings.admin.token.is_some() {
            "enabled"
        } else {
            "disabled: no admin.token"
        },
        if settings.admin.show_values {
            "shown"
        } else {
            "hidden"
        }
    );
    if let Some(sim) = &settings.simulator {
        let _ = writeln!(
            out,
            "simulator   in-process, port {}, demo conversation {:?}",
            sim.port, sim.demo_conversation
        );
    }
    let _ = writeln!(out, "sources     {}", settings.sources.len());
    for source in &settings.sources {
        let _ = writeln!(out, "  - {}  secrets [redacted]", describe_source(source));
    }
    out
}
