//! A validation's result for machines: `zsc validate --format json`, and GitHub Actions
//! annotations that put each problem on its line in a pull request.
//!
//! Pure: returns strings.

use std::path::Path;

use serde_json::json;

use crate::config::dialect_checks::Warning;
use crate::error::Error;
use crate::model::Origin;

/// What a valid configuration declares.
pub struct Counts {
    pub users: usize,
    pub groups: usize,
    pub tenants: usize,
}

/// The JSON document for a validation and whether the configuration is valid.
pub fn json(config: &Path, loaded: Result<(Counts, &[Warning]), &Error>) -> (String, bool) {
    let located = |file: &str, line: u64, column: u64, message: &str| json!({ "file": file, "line": line, "column": column, "message": message });
    let valid = loaded.is_ok();
    let document = match loaded {
        Ok((v, warnings)) => {
            json!({
                "config": config.display().to_string(),
                "valid": true,
                "users": v.users,
                "groups": v.groups,
                "tenants": v.tenants,
                "problems": [],
                "warnings": warnings.iter().map(|w| {
                    located(&w.origin.file, w.origin.line, w.origin.column, &w.message)
                }).collect::<Vec<_>>(),
            })
        }
        Err(Error::Config(e)) if !e.diagnostics().is_empty() => json!({
            "config": config.display().to_string(),
            "valid": false,
            "problems": e.diagnostics().iter().map(|d| {
                located(&d.file, d.line, d.column, &d.message)
            }).collect::<Vec<_>>(),
            "warnings": [],
        }),
        Err(other) => json!({
            "config": config.display().to_string(),
            "valid": false,
            "problems": [ { "file": config.display().to_string(), "line": 0, "column": 0,
                            "message": other.to_string() } ],
            "warnings": [],
        }),
    };
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    (text, valid)
}

/// `::error file=zsc.yaml,line=3,col=5::message`: a GitHub Actions workflow command, with its
/// values escaped as GitHub's toolkit does (`%`, CR, LF; and `:` and `,` in properties).
pub fn annotation(level: &str, at: &Origin, message: &str) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = format!("::{level} file={}", property(&at.file));
    if at.line > 0 {
        out.push_str(&format!(",line={},col={}", at.line, at.column.max(1)));
    }
    out.push_str(&format!("::{}\n", data(message)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_what_github_would_read_as_syntax() {
        let at = Origin {
            file: "people/a,b:c.yaml".into(),
            line: 3,
            column: 0,
        };
        assert_eq!(
            annotation("error", &at, "100% wrong\nsecond line"),
            "::error file=people/a%2Cb%3Ac.yaml,line=3,col=1::100%25 wrong%0Asecond line\n"
        );
        let whole_file = Origin {
            file: "zsc.yaml".into(),
            line: 0,
            column: 0,
        };
        assert_eq!(
            annotation("warning", &whole_file, "x"),
            "::warning file=zsc.yaml::x\n"
        );
    }
}
