//! The Go `text/template` subset Docker's `--format` and `inspect -f` accept, over JSON values: fields
//! (`{{.State.Pid}}`), `$` and variables, pipelines, `if`/`else if`/`else`, `range` (with `$i, $v :=`),
//! `with`, and the functions scripts use: Go's (`and or not len index eq ne lt le gt ge print printf println
//! slice`) and Docker's (`json join split lower upper title pad truncate`).
//!
//! Written here rather than taken from a crate: the Rust template engines (tera, handlebars, gtmpl) either speak
//! another syntax or print values differently from Go (`[a b]`, `map[k:v]`, `<no value>`), and scripts
//! parse exactly what Docker prints.
mod eval;
mod key_order;
mod parse;

pub use eval::Missing;

use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `text`; the error names the position as Go does (`template: :1:7: …`).
    pub fn parse(text: &str) -> Result<Template, String> {
        Ok(Template {
            nodes: parse::parse(text)?,
        })
    }

    /// Renders with `dot` as `.` and `$`. `missing` says what a field that an object lacks becomes.
    pub fn render(&self, dot: &Value, missing: Missing) -> Result<String, String> {
        let mut out = String::new();
        eval::render(&self.nodes, dot, missing, &mut out)?;
        Ok(out)
    }

    /// Renders an ordered document (an `inspect`'s): `json` writes its objects in their order.
    pub fn render_ordered(
        &self,
        dot: &crate::ordered_json::Json,
        missing: Missing,
    ) -> Result<String, String> {
        key_order::with_orders_of(dot, || self.render(&dot.to_value(), missing))
    }
}

#[cfg(test)]
mod tests;
