//! `batch --report class.html`: one self-contained page about a class (no script, no
//! file or address it loads): the score distribution, each task's pass rate and most
//! common failure reasons, the students who could not be graded, and a student-by-task
//! table. The charts are drawn by plotters into inline SVG, the page by a minijinja
//! template, which escapes every text it is given (student folder names, messages).

use std::collections::BTreeMap;

use plotters::prelude::*;
use serde::Serialize;

use crate::points::Points;

/// One student's result, as the class report needs it.
#[derive(Debug, Clone)]
pub struct ClassRow {
    pub student: String,
    pub score: Points,
    /// Why the submission could not be graded, if it could not.
    pub error: Option<String>,
    /// By task id: status (`pass`, `fail`, ...), points and message.
    pub tasks: BTreeMap<String, (String, Points, String)>,
}

/// One task of the exercise, in the manifest's order.
#[derive(Debug, Clone)]
pub struct ClassTask {
    pub id: String,
    pub title: String,
    pub points: Points,
}

/// How many score bands the distribution has: tenths of the maximum.
const BANDS: usize = 10;

/// The most failure reasons shown per task.
const REASONS: usize = 3;

#[derive(Debug, Serialize)]
struct Page {
    exercise: String,
    title: String,
    max_score: String,
    students: usize,
    graded: usize,
    mean: String,
    median: String,
    distribution_svg: String,
    bands: Vec<Band>,
    tasks: Vec<TaskLine>,
    ungraded: Vec<Ungraded>,
    task_ids: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Debug, Serialize)]
struct Band {
    range: String,
    count: usize,
}

#[derive(Debug, Serialize)]
struct TaskLine {
    id: String,
    title: String,
    points: String,
    passed: usize,
    graded: usize,
    rate: String,
    bar_svg: String,
    reasons: Vec<Reason>,
}

#[derive(Debug, Serialize)]
struct Reason {
    text: String,
    count: usize,
}

#[derive(Debug, Serialize)]
struct Ungraded {
    student: String,
    why: String,
}

#[derive(Debug, Serialize)]
struct Row {
    student: String,
    score: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Serialize)]
struct Cell {
    text: String,
    status: String,
}

/// Renders the page.
pub fn render_class_report(
    exercise: &str,
    title: &str,
    tasks: &[ClassTask],
    rows: &[ClassRow],
) -> Result<String, String> {
    let max: Points = tasks.iter().map(|t| t.points).sum();
    let graded: Vec<&ClassRow> = rows.iter().filter(|r| r.error.is_none()).collect();
    let mut scores: Vec<Points> = graded.iter().map(|r| r.score).collect();
    scores.sort();
    let mean = if scores.is_empty() {
        "-".to_string()
    } else {
        format!(
            "{:.2}",
            scores.iter().map(|s| s.as_f64()).sum::<f64>() / scores.len() as f64
        )
    };
    let median = match scores.len() {
        0 => "-".to_string(),
        n if n % 2 == 1 => scores[n / 2].to_string(),
        n => format!(
            "{:.2}",
            (scores[n / 2 - 1].as_f64() + scores[n / 2].as_f64()) / 2.0
        ),
    };
    // Bands of a tenth of the maximum; full marks fall in the last.
    let mut counts = [0usize; BANDS];
    for s in &scores {
        let share = if max.is_zero() {
            0.0
        } else {
            s.as_f64() / max.as_f64()
        };
        let band = ((share * BANDS as f64).floor() as usize).min(BANDS - 1);
        counts[band] += 1;
    }
    let bands = (0..BANDS)
        .map(|i| Band {
            range: if i + 1 == BANDS {
                format!("{}–100%", i * 10)
            } else {
                format!("{}–{}%", i * 10, (i + 1) * 10)
            },
            count: counts[i],
        })
        .collect();
    let lines = tasks
        .iter()
        .map(|t| task_line(t, &graded))
        .collect::<Result<Vec<_>, String>>()?;
    let page = Page {
        exercise: exercise.to_string(),
        title: title.to_string(),
        max_score: max.to_string(),
        students: rows.len(),
        graded: graded.len(),
        mean,
        median,
        distribution_svg: histogram(&counts)?,
        bands,
        tasks: lines,
        ungraded: (rows.iter())
            .filter_map(|r| {
                r.error.as_ref().map(|e| Ungraded {
                    student: r.student.clone(),
                    why: e.clone(),
                })
            })
            .collect(),
        task_ids: tasks.iter().map(|t| t.id.clone()).collect(),
        rows: rows
            .iter()
            .map(|r| Row {
                student: r.student.clone(),
                score: match &r.error {
                    Some(_) => "not graded".into(),
                    None => r.score.to_string(),
                },
                cells: tasks
                    .iter()
                    .map(|t| match r.tasks.get(&t.id) {
                        Some((status, points, _)) => Cell {
                            text: points.to_string(),
                            status: status.clone(),
                        },
                        None => Cell {
                            text: String::new(),
                            status: "none".into(),
                        },
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut env = minijinja::Environment::new();
    env.add_template("class.html", include_str!("class.html"))
        .map_err(|e| format!("the class report's template: {e}"))?;
    let template = env
        .get_template("class.html")
        .map_err(|e| format!("the class report's template: {e}"))?;
    template
        .render(minijinja::value::Serde(&page))
        .map_err(|e| format!("cannot render the class report: {e}"))
}

fn task_line(task: &ClassTask, graded: &[&ClassRow]) -> Result<TaskLine, String> {
    let mut passed = 0;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for row in graded {
        match row.tasks.get(&task.id) {
            Some((status, _, _)) if status == "pass" => passed += 1,
            Some((_, _, message)) => *reasons.entry(reason(message)).or_default() += 1,
            None => *reasons.entry("not graded".into()).or_default() += 1,
        }
    }
    let mut common: Vec<Reason> = reasons
        .into_iter()
        .map(|(text, count)| Reason { text, count })
        .collect();
    common.sort_by(|a, b| b.count.cmp(&a.count).then(a.text.cmp(&b.text)));
    common.truncate(REASONS);
    let share = if graded.is_empty() {
        0.0
    } else {
        passed as f64 / graded.len() as f64
    };
    Ok(TaskLine {
        id: task.id.clone(),
        title: task.title.clone(),
        points: task.points.to_string(),
        passed,
        graded: graded.len(),
        rate: format!("{:.0}%", share * 100.0),
        bar_svg: bar(share)?,
        reasons: common,
    })
}

/// A failure message as it is counted: its numbers made alike, so that "3 rows missing"
/// and "5 rows missing" are one reason (a number within a name, `01_create.sql`, stays).
fn reason(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let named = (start > 0 && word(chars.get(start - 1))) || word(chars.get(i));
        if named {
            out.extend(&chars[start..i]);
        } else {
            out.push('#');
        }
    }
    let out = match out.find(" (and # more)") {
        Some(at) => out[..at].to_string(),
        None => out,
    };
    let trimmed = out.trim();
    if trimmed.is_empty() {
        "(no message)".into()
    } else {
        crate::db::clip(trimmed, 140)
    }
}

const CHART_WIDTH: u32 = 600;
const CHART_HEIGHT: u32 = 160;

/// The distribution as bars, one per band, tallest the height of the chart. The labels
/// are the page's (a table under it), so that the chart needs no font.
fn histogram(counts: &[usize; BANDS]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (CHART_WIDTH, CHART_HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let most = counts.iter().copied().max().unwrap_or(0).max(1);
        let width = (CHART_WIDTH / BANDS as u32) as i32;
        for (i, &count) in counts.iter().enumerate() {
            let height = (count as f64 / most as f64 * f64::from(CHART_HEIGHT - 10)).round() as i32;
            let x = i as i32 * width;
            let top = CHART_HEIGHT as i32 - height;
            root.draw(&Rectangle::new(
                [(x + 3, top), (x + width - 3, CHART_HEIGHT as i32)],
                RGBColor(52, 101, 164).filled(),
            ))
            .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A pass rate as a bar: the passed share green, the rest red.
fn bar(share: f64) -> Result<String, String> {
    let (w, h) = (160u32, 14u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let split = (share.clamp(0.0, 1.0) * f64::from(w)).round() as i32;
        root.draw(&Rectangle::new(
            [(0, 0), (split, h as i32)],
            RGBColor(78, 154, 6).filled(),
        ))
        .map_err(|e| e.to_string())?;
        root.draw(&Rectangle::new(
            [(split, 0), (w as i32, h as i32)],
            RGBColor(204, 0, 0).filled(),
        ))
        .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        student: &str,
        score: u32,
        tasks: &[(&str, &str, u32, &str)],
        error: Option<&str>,
    ) -> ClassRow {
        ClassRow {
            student: student.to_string(),
            score: Points::whole(score),
            error: error.map(String::from),
            tasks: tasks
                .iter()
                .map(|(id, status, points, message)| {
                    (
                        id.to_string(),
                        (
                            status.to_string(),
                            Points::whole(*points),
                            message.to_string(),
                        ),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn the_page_counts_the_class_and_escapes_what_students_chose() {
        let tasks = [
            ClassTask {
                id: "a".into(),
                title: "first".into(),
                points: Points::whole(6),
            },
            ClassTask {
                id: "b".into(),
                title: "second".into(),
                points: Points::whole(4),
            },
        ];
        let rows = [
            row(
                "alice",
                10,
                &[("a", "pass", 6, ""), ("b", "pass", 4, "")],
                None,
            ),
            row(
                "<script>alert(1)</script>",
                6,
                &[("a", "pass", 6, ""), ("b", "fail", 0, "3 rows missing")],
                None,
            ),
            row(
                "carol",
                0,
                &[
                    ("a", "fail", 0, "5 rows missing"),
                    ("b", "fail", 0, "5 rows missing"),
                ],
                None,
            ),
            row("dave", 0, &[], Some("the server failed")),
        ];
        let page = render_class_report("ex", "An exercise", &tasks, &rows).expect("renders");
        assert!(!page.contains("<script>"), "a student's text became markup");
        assert!(page.contains("&lt;script&gt;"));
        // b: 1 of 3 graded passed; its reason counted twice, numbers made alike.
        assert!(page.contains("1 of 3"), "{page}");
        assert!(page.contains("# rows missing"), "{page}");
        assert_eq!(
            reason("`01_create.sql` has no SQL yet"),
            "`01_create.sql` has no SQL yet"
        );
        assert_eq!(reason("0.5 of 12 rows (and 3 more)"), "# of # rows");
        assert!(page.contains("the server failed"));
        // The mean of 10, 6, 0 and the median.
        assert!(page.contains("5.33") && page.contains(">6<"), "{page}");
        // Nothing it would load: no script, style sheet, image or frame from anywhere.
        for loads in ["<script", "<link", "src=", "@import", "url("] {
            assert!(!page.contains(loads), "the page holds {loads}");
        }
    }
}
