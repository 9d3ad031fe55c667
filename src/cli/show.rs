//! `zsc show FILE`: a saved plan in any of the plan views. Reads no configuration and makes no
//! request.

use crate::plan::Plan;
use crate::render;

use super::args::{Format, ShowArgs};
use super::commands::read_plan_file;
use super::output::Output;
use super::{ExitStatus, Failure};

pub fn show(out: Output, args: &ShowArgs) -> Result<ExitStatus, Failure> {
    let plan = read_plan_file(&args.plan_file)?;
    out.print(&render_plan(&plan, args.format, out)?);
    Ok(ExitStatus::Success)
}

/// A plan in the chosen view, as `zsc plan` and `zsc show` print it.
pub fn render_plan(plan: &Plan, format: Format, out: Output) -> Result<String, Failure> {
    Ok(match format {
        Format::Text => render::text::plan(plan, out.out),
        Format::Markdown => render::markdown::plan(plan),
        Format::Json => {
            let mut json =
                serde_json::to_string_pretty(plan).map_err(|e| Failure(e.to_string()))?;
            json.push('\n');
            json
        }
    })
}
