//! `hoist history` / `hoist image history`: an image's history entries, newest first, in Docker's columns
//! (IMAGE CREATED CREATED BY SIZE COMMENT).
use anyhow::bail;
use clap::Args;
use hoist_store::Store;
use serde_json::{json, Value};

use crate::listing::{self, Listing};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates as numbers and RFC 3339 times instead of words (`-H=false`).
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    human: bool,
    /// Do not truncate CREATED BY.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only the image IDs (`<missing>` for entries that are not an image of their own).
    #[arg(short = 'q', long)]
    quiet: bool,
    /// A Go template, `table TEMPLATE` or `json`. Fields: ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment.
    #[arg(long)]
    format: Option<String>,
    image: String,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

const DEFAULT: &str = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub fn history(store: &Store, args: HistoryArgs) -> anyhow::Result<i32> {
    let Some(image) = store.resolve(&args.image)? else {
        bail!("No such image: {}", args.image);
    };
    let listing = Listing::new(args.format.as_deref(), DEFAULT)?;
    let config: Value = serde_json::from_slice(&store.read_blob(&image.id)?)?;
    let entries = config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Each history entry that made a layer takes the next diff ID, base first.
    let mut layers = image.diff_ids()?.into_iter();
    let mut rows = Vec::with_capacity(entries.len());
    for entry in &entries {
        let empty = entry
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let size = match (empty, if empty { None } else { layers.next() }) {
            (false, Some(layer)) => store.blob_size(&layer).unwrap_or(0),
            _ => 0,
        };
        let text = |key: &str| {
            entry
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let created = entry.get("created").and_then(Value::as_str);
        let created_by = text("created_by").replace('\t', " ");
        rows.push(json!({
            "ID": "<missing>",
            "CreatedSince": if args.human { listing::since(created) } else { created.unwrap_or("").to_string() },
            "CreatedAt": created.unwrap_or(""),
            "CreatedBy": if args.no_trunc { created_by } else { ellipsis(&created_by, 45) },
            "Size": if args.human { listing::docker_size(size) } else { size.to_string() },
            "Comment": text("comment"),
        }));
    }
    rows.reverse();
    // The newest entry is the image itself; older ones are no image of their own (as for a BuildKit build).
    let id = if args.no_trunc {
        image.id.to_string()
    } else {
        image.id.hex()[..12].to_string()
    };
    if let Some(first) = rows.first_mut() {
        first["ID"] = Value::String(id.clone());
    } else {
        rows.push(json!({"ID": id, "CreatedSince": "", "CreatedAt": "", "CreatedBy": "", "Size": "0B", "Comment": ""}));
    }
    if args.quiet {
        for row in &rows {
            outln!("{}", row["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    crate::output::write_stdout(format_args!("{}", listing.render(&rows, HEADERS)?));
    Ok(0)
}

/// Docker's `stringutils.Ellipsis`: at most `max` characters, the last one `…` when cut.
fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ellipsis_cuts_to_the_width() {
        assert_eq!(super::ellipsis("short", 45), "short");
        let long = "x".repeat(50);
        let cut = super::ellipsis(&long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…'));
    }
}
