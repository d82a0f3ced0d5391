//! `--format junit`: JUnit XML for CI systems, one test suite per graded submission.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::Report;
use super::escape::{Shape, visible};
use super::gradescope::{note_text, task_output};
use crate::runner::{Status, TaskResult};

/// Renders the reports as one JUnit document; each is paired with the label it is graded
/// under (a student in batch grading, otherwise the exercise id).
pub fn render_junit(reports: &[(&str, &Report)], elapsed: Duration) -> String {
    let mut junit = Junit::new("sqlgrade");
    junit.set_time(elapsed);
    for (label, report) in reports {
        junit.add_test_suite(suite(label, report));
    }
    junit.to_string().unwrap_or_else(|e| {
        // Writing to memory fails only on a bug in the serialiser; still hand CI a
        // well-formed document that says so rather than nothing.
        let why = e.to_string().replace('&', "&amp;").replace('<', "&lt;");
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"sqlgrade\" tests=\"0\" failures=\"0\" errors=\"0\">\
             <system-err>{why}</system-err></testsuites>\n"
        )
    })
}

fn suite(label: &str, report: &Report) -> TestSuite {
    let name = if label == report.exercise {
        report.exercise.clone()
    } else {
        format!("{} ({label})", report.exercise)
    };
    let mut suite = TestSuite::new(name);
    for t in &report.tasks {
        suite.add_test_case(case(&report.exercise, t));
    }
    let out: Vec<String> = report
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .chain(report.notes.iter().map(note_text))
        .collect();
    if !out.is_empty() {
        suite.set_system_out(out.join("\n"));
    }
    suite
}

fn case(exercise: &str, t: &TaskResult) -> TestCase {
    let status = match t.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Fail => non_success(NonSuccessKind::Failure, "fail", t),
        Status::Error => non_success(NonSuccessKind::Error, "error", t),
        Status::Missing => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(visible(&t.message, Shape::Line).into_owned());
            s
        }
    };
    let mut case = TestCase::new(t.id.as_str(), status);
    let stem = t.file.strip_suffix(".sql").unwrap_or(&t.file);
    case.set_classname(format!("{exercise}.{stem}"));
    // JUnit has no points; properties carry them for tools that read them.
    case.add_property(Property::new("score", t.score.to_string()));
    case.add_property(Property::new("max_score", t.max_score.to_string()));
    case
}

fn non_success(kind: NonSuccessKind, ty: &str, t: &TaskResult) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    // XML cannot carry most control characters: they are shown escaped, as on a
    // terminal, rather than dropped (two values that differ by one would look the same).
    s.set_message(visible(&t.message, Shape::Line).into_owned())
        .set_type(ty);
    // The body repeats the message with its place: XML parsers fold newlines in an
    // attribute into spaces, and many viewers show only the body.
    let body = task_output(t);
    if !body.is_empty() {
        s.set_description(visible(&body, Shape::Lines).into_owned());
    }
    s
}

#[cfg(test)]
mod tests {
    use roxmltree::{Document, Node};

    use super::*;
    use crate::report::gradescope::tests::sample;

    fn attr<'a>(node: Node<'a, '_>, name: &str) -> &'a str {
        node.attribute(name)
            .unwrap_or_else(|| panic!("<{}> lacks `{name}`", node.tag_name().name()))
    }

    fn children<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Vec<Node<'a, 'i>> {
        node.children()
            .filter(|n| n.is_element() && n.tag_name().name() == tag)
            .collect()
    }

    fn render_two() -> String {
        let report = sample();
        render_junit(
            &[("sessions", &report), ("Ada Lovelace", &report)],
            Duration::from_millis(2_500),
        )
    }

    #[test]
    fn has_the_required_elements_and_attributes() {
        let xml = render_two();
        let doc = Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(attr(root, "time"), "2.500");
        let suites = children(root, "testsuite");
        assert_eq!(suites.len(), 2);
        for s in &suites {
            for a in ["name", "tests", "failures", "errors"] {
                attr(*s, a);
            }
            let cases = children(*s, "testcase");
            assert_eq!(cases.len(), 4);
            for c in &cases {
                attr(*c, "name");
                attr(*c, "classname");
            }
            for tag in ["failure", "error"] {
                for f in s.descendants().filter(|n| n.has_tag_name(tag)) {
                    attr(f, "message");
                }
            }
        }
    }

    #[test]
    fn counts_on_suites_and_root() {
        let xml = render_two();
        let doc = Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        for (a, n) in [("tests", "8"), ("failures", "2"), ("errors", "2")] {
            assert_eq!(attr(root, a), n, "root `{a}`");
        }
        assert_eq!(attr(root, "skipped"), "2");
        for s in children(root, "testsuite") {
            for (a, n) in [
                ("tests", "4"),
                ("failures", "1"),
                ("errors", "1"),
                ("skipped", "1"),
            ] {
                assert_eq!(attr(s, a), n, "suite `{a}`");
            }
        }
    }

    #[test]
    fn names_suites_and_cases_after_the_exercise_label_and_file() {
        let xml = render_two();
        let doc = Document::parse(&xml).expect("well-formed XML");
        let suites = children(doc.root_element(), "testsuite");
        assert_eq!(attr(suites[0], "name"), "sessions");
        assert_eq!(attr(suites[1], "name"), "sessions (Ada Lovelace)");
        let cases = children(suites[0], "testcase");
        let named: Vec<(&str, &str)> = cases
            .iter()
            .map(|c| (attr(*c, "name"), attr(*c, "classname")))
            .collect();
        assert_eq!(
            named,
            [
                ("setup.count", "sessions.setup"),
                ("analysis.long_runs", "sessions.analysis"),
                ("analysis.top", "sessions.analysis"),
                ("report.view", "sessions.report"),
            ]
        );
    }

    #[test]
    fn each_status_has_its_element() {
        let xml = render_two();
        let doc = Document::parse(&xml).expect("well-formed XML");
        let suite = children(doc.root_element(), "testsuite")[0];
        let cases = children(suite, "testcase");
        // A passing case holds its points and nothing else.
        let held: Vec<&str> = (cases[0].children().filter(|n| n.is_element()))
            .map(|n| n.tag_name().name())
            .collect();
        assert_eq!(held, ["properties"]);
        let points: Vec<(&str, &str)> = children(children(cases[1], "properties")[0], "property")
            .into_iter()
            .map(|p| (attr(p, "name"), attr(p, "value")))
            .collect();
        assert_eq!(points, [("score", "1"), ("max_score", "2")]);

        let failure = children(cases[1], "failure");
        assert_eq!(failure.len(), 1);
        assert_eq!(attr(failure[0], "type"), "fail");
        let body = failure[0].text().expect("a body");
        assert!(body.contains("analysis.sql:3:7: the rows differ"), "{body}");
        assert!(body.contains("2 rows expected, 3 returned"), "{body}");
        assert!(body.contains("-(1, 'a')\n+(1, 'b')"), "{body}");

        let error = children(cases[2], "error");
        assert_eq!(error.len(), 1);
        assert_eq!(attr(error[0], "type"), "error");
        assert_eq!(
            attr(error[0], "message"),
            "analysis.sql:12:1: relation \"runz\" does not exist"
        );

        let skipped = children(cases[3], "skipped");
        assert_eq!(skipped.len(), 1);
        assert_eq!(
            attr(skipped[0], "message"),
            "`report.sql` not found in `alice`"
        );
    }

    #[test]
    fn control_characters_are_shown_not_dropped() {
        let mut report = crate::report::gradescope::tests::sample();
        let mut t = crate::report::gradescope::tests::task("t.x", "f.sql", Status::Fail);
        t.message = "1 row differs in `name`".into();
        t.diff = Some("  the row:\n- name: alice\n+ name: alice\x1b[31m\x01".into());
        crate::runner::Sink::event(&mut report, &crate::runner::Event::Task(t));
        let xml = render_junit(&[("ex", &report)], Duration::from_secs(1));
        let doc = Document::parse(&xml).expect("well-formed XML");
        let body: String = (doc.descendants())
            .filter(|n| n.has_tag_name("failure"))
            .filter_map(|n| n.text())
            .collect();
        assert!(body.contains("+ name: alice\\x1b[31m\\x01"), "{body}");
    }

    #[test]
    fn special_characters_survive_the_round_trip() {
        let xml = render_two();
        let doc = Document::parse(&xml).expect("well-formed XML");
        let suite = children(doc.root_element(), "testsuite")[0];
        let failure = suite
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .expect("a failure");
        assert_eq!(attr(failure, "message"), "the rows differ: a < b & \"c\"");
        let body = failure.text().expect("a body");
        assert!(body.contains("a < b & \"c\""), "{body}");
    }

    #[test]
    fn warnings_and_notes_go_to_the_suite_output() {
        let xml = render_two();
        let doc = Document::parse(&xml).expect("well-formed XML");
        let suite = children(doc.root_element(), "testsuite")[0];
        let out = children(suite, "system-out");
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].text(),
            Some(
                "warning: the exercise targets PostgreSQL 16, but the server is PostgreSQL 17\n\
                 note: analysis.sql:9:1: skipped the psql meta-command `\\timing`"
            )
        );
    }

    #[test]
    fn no_reports_is_still_a_document() {
        let xml = render_junit(&[], Duration::ZERO);
        let doc = Document::parse(&xml).expect("well-formed XML");
        assert_eq!(attr(doc.root_element(), "tests"), "0");
    }
}
