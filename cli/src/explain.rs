//! `hoist cache explain IMAGE|last`: the report of the build that made an image (or of the latest build):
//! every step, whether it came from the cache, and for each miss why it missed.
use anyhow::Context as _;
use hoist_solver::explain::StepReport;
use hoist_store::Store;

pub fn explain(store: &Store, target: &str) -> anyhow::Result<i32> {
    let (name, label) = if target == "last" {
        ("last".to_string(), "the latest build".to_string())
    } else {
        let image = store.resolve(target)?.with_context(|| {
            format!("no such image: {target} (give an image, or `last` for the latest build)")
        })?;
        (
            image.id.to_string(),
            format!("the build of {target} ({})", image.id.short()),
        )
    };
    let raw = store.build_report(&name)?.with_context(|| {
        format!("no build report for {label}: images imported, loaded or built before reports existed have none")
    })?;
    let steps: Vec<StepReport> =
        serde_json::from_slice(&raw).context("the build report is not valid JSON")?;
    outln!(
        "{label}: {} steps, {} from the cache",
        steps.len(),
        steps.iter().filter(|s| s.cached).count()
    );
    for step in &steps {
        match &step.reason {
            None => outln!("#{} {}: CACHED", step.vertex, step.name),
            Some(reason) => outln!("#{} {}: MISS: {reason}", step.vertex, step.name),
        }
    }
    Ok(0)
}
