//! Seed LocalStack (or whatever `AWS_ENDPOINT_URL` points at) with the demo buckets.
//! Usage: custos-seed [PREFIX]   (default `custos-demo`; existing PREFIX-* buckets are
//! deleted first, so seeding twice gives the same state).

use aws_config::BehaviorVersion;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let prefix = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "custos-demo".into());
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        anyhow::bail!(
            "refusing to seed without AWS_ENDPOINT_URL: point it at LocalStack (http://127.0.0.1:4566)"
        );
    }
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let removed = custos_testkit::clear(&client, &format!("{prefix}-")).await?;
    let made = custos_testkit::seed(&client, &prefix).await?;
    println!(
        "seeded {} buckets (removed {removed} old ones):",
        made.len()
    );
    for (name, f) in made {
        println!("  {name:<28} {f:?}");
    }
    Ok(())
}
