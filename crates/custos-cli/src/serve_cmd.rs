//! `custos serve`: the HTTP API, the approval page and `/metrics` over one engine (the
//! same guard as every other path), and with `--worker` the service loop in the same
//! process, so its gate, reasoning and queue latencies show in `/metrics`.

use crate::auth;
use crate::build::{self, Needs};
use crate::cli::{EXIT_INVALID, EXIT_OK, EXIT_RUNTIME, Failure};
use custos_server::{AppState, Metrics};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub struct ServeArgs<'a> {
    pub cfg: Option<&'a Path>,
    pub db: Option<&'a str>,
    pub listen: SocketAddr,
    pub worker: bool,
    pub metrics_refresh: std::time::Duration,
    pub metrics_token_file: Option<&'a Path>,
}

pub async fn serve(args: ServeArgs<'_>) -> Result<u8, Failure> {
    let built = build::engine(
        args.cfg,
        args.db,
        Needs::Aws,
        custos_core::SERVICE_PRINCIPAL,
    )
    .await?;
    let worker_opts = if args.worker {
        Some(
            crate::cli::service_options(&built, None, None)
                .await?
                .ok_or_else(|| {
                    Failure::msg(
                        EXIT_INVALID,
                        "`--worker` has nothing to do: set [telemetry] queue_url and/or [[schedules]]"
                            .into(),
                    )
                })?,
        )
    } else {
        None
    };
    let scrape_token = match args.metrics_token_file {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::msg(
                    EXIT_INVALID,
                    format!("--metrics-token-file `{}`: {e}", p.display()),
                )
            })?;
            let token = text.trim().to_string();
            if token.len() < 16 {
                return Err(Failure::msg(
                    EXIT_INVALID,
                    format!(
                        "--metrics-token-file `{}`: the token must be at least 16 characters",
                        p.display()
                    ),
                ));
            }
            Some(token)
        }
    };
    let metrics = Arc::new(
        Metrics::default()
            .with_refresh(args.metrics_refresh)
            .with_scrape_token(scrape_token),
    );
    let engine = Arc::new(built.engine.observed_by(metrics.clone()));
    let authenticator = auth::authenticator(engine.config(), engine.ledger_arc()).await?;
    let state = AppState::new(
        engine.clone(),
        Arc::new(authenticator),
        metrics,
        !args.listen.ip().is_loopback(),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            Failure::msg(
                EXIT_RUNTIME,
                format!("cannot listen on `{}`: {e}", args.listen),
            )
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    // The first line on stdout says where (tests and scripts read it for port 0).
    println!("listening on http://{addr} (approval page: http://{addr}/ui)");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let http = tokio::spawn(custos_server::serve(
        listener,
        state,
        stopped(stop_rx.clone()),
    ));
    let worker = worker_opts.map(|opts| {
        let e = engine.clone();
        let rx = stop_rx.clone();
        tokio::spawn(async move { e.serve(opts, stopped(rx)).await })
    });
    let anchoring = crate::audit_cmd::spawn_checkpoints(&engine).await?;
    crate::cli::shutdown_signal().await;
    eprintln!("custos: stopping");
    anchoring.stop().await;
    let _ = stop_tx.send(true);
    if let Some(w) = worker {
        match w.await {
            Ok(Ok(report)) => {
                eprintln!("custos: worker stopped after {} messages", report.messages)
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => return Err(Failure::new(EXIT_RUNTIME, e)),
        }
    }
    engine.drain_notifications(crate::cli::NOTIFY_DRAIN).await;
    match http.await {
        Ok(Ok(())) => Ok(EXIT_OK),
        Ok(Err(e)) => Err(Failure::new(EXIT_RUNTIME, e)),
        Err(e) => Err(Failure::new(EXIT_RUNTIME, e)),
    }
}
