//! All findings of one preflight run, errors first, as kubeadm-style lines or JSON.

use std::fmt::Write;

use super::{Finding, Severity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    findings: Vec<Finding>,
}

impl Report {
    /// Sorts by severity; within one severity the checks keep their run order.
    pub fn new(mut findings: Vec<Finding>) -> Self {
        findings.sort_by_key(|f| f.severity);
        Report { findings }
    }

    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// `[ERROR Name]: what — how to fix` / `[WARNING Name]: ...` lines, then facts as
    /// `[preflight] Name: ...`. The summary line is separate (`summary`).
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let _ = match f.severity {
                Severity::Error => writeln!(out, "\t[ERROR {}]: {}", f.name, f.message),
                Severity::Warning if f.ignored => {
                    writeln!(out, "\t[WARNING {}]: {} (error ignored)", f.name, f.message)
                }
                Severity::Warning => writeln!(out, "\t[WARNING {}]: {}", f.name, f.message),
                Severity::Info => writeln!(out, "[preflight] {}: {}", f.name, f.message),
            };
        }
        out
    }

    /// One line: the counts and, when errors remain, how to proceed.
    pub fn summary(&self) -> String {
        let (e, w) = (self.errors(), self.warnings());
        if e == 0 {
            return format!("pre-flight checks passed with {w} warning{}", plural(w));
        }
        let mut names: Vec<&str> =
            self.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.name.as_str()).collect();
        names.dedup();
        format!(
            "{e} pre-flight error{} and {w} warning{}: fix them, or if you know what you are doing make them non-fatal with --ignore-preflight-errors={} (config: preflight.ignoreErrors)",
            plural(e),
            plural(w),
            names.join(",")
        )
    }

    /// `{"errors": n, "warnings": n, "findings": [{name, severity, message, ignored}, ...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "errors": self.errors(),
            "warnings": self.warnings(),
            "findings": self.findings,
        })
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, severity: Severity, ignored: bool) -> Finding {
        Finding { name: name.into(), severity, message: format!("{name} message"), ignored }
    }

    #[test]
    fn sorted_by_severity_and_rendered_like_kubeadm() {
        let r = Report::new(vec![
            f("CRI", Severity::Info, false),
            f("Swap", Severity::Warning, false),
            f("NumCPU", Severity::Error, false),
            f("Port-6443", Severity::Warning, true),
            f("Mem", Severity::Error, false),
        ]);
        let names: Vec<&str> = r.findings().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["NumCPU", "Mem", "Swap", "Port-6443", "CRI"]);
        let text = r.render_human();
        assert!(text.starts_with("\t[ERROR NumCPU]: NumCPU message\n\t[ERROR Mem]: Mem message\n"), "{text}");
        assert!(text.contains("\t[WARNING Port-6443]: Port-6443 message (error ignored)\n"), "{text}");
        assert!(text.contains("[preflight] CRI: CRI message\n"), "{text}");
        assert!(r.summary().contains("--ignore-preflight-errors=NumCPU,Mem"), "{}", r.summary());
        let json = r.to_json();
        assert_eq!(json["errors"], 2);
        assert_eq!(json["findings"][3]["ignored"], true);
        assert_eq!(json["findings"][3]["severity"], "warning");
    }
}
