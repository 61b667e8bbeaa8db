"""OUT/report.html: the instructor's dashboard for a graded cohort.

One self-contained page (inline CSS and JavaScript, no server, no network), meant to be
opened from the file system every week, for a cohort of hundreds:

- per assignment: the score distribution (an inline SVG histogram) and the status counts,
  with what to do about each status other than ``graded``;
- item analysis: for each exercise (test cell), how many learners passed; each check that
  held (the feedback's "✓ ..." lines) and by how many; and the failed checks, each diagnosis
  a group listing its learners (numbers in a diagnosis are blanked when grouping, so "got
  0.31" and "got 0.27" are one group);
- the learners: one row per (learner, assignment), searchable and sortable by student,
  score, status or grading time, each linking to ``feedback/<student>/<A>.html``; the rows
  are drawn by the page's script from the embedded JSON, so 1,000 learners load in well
  under a second (``docs/deploy.md`` has the measured figure);
- the run: how it was isolated and limited (``OUT/run.json``), how long it took, and the
  slowest submissions (each record's ``timings``).
"""
from __future__ import annotations

import html
import json
import os
import re
import time
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path

from autograder.cohort.feedback import safe_name

# What to do about each status other than "graded" (docs/grading.md lists them).
STATUS_ADVICE = {
    "timeout": "A cell or the notebook ran past the time limit (often an endless loop or a long training run). "
               "Open the feedback; if the work is legitimate, regrade with a larger --timeout / --notebook-timeout "
               "(`bnlab grade SUBMITTED --out OUT --force --assignment A`). Cells that had passed kept their points.",
    "memory": "The memory cap was reached (usually a huge tensor). Check the notebook; if legitimate, regrade with a "
              "larger --memory-mb.",
    "crashed": "The kernel died (os._exit, a segfault) or the answer code stopped the re-check. Look at the "
               "learner's notebook and ask them to resubmit without the code that ends the process.",
    "malformed": "The file is not a valid notebook (truncated or edited by hand). Ask the learner to download "
                 "their notebook again from JupyterLab (File > Download) and resubmit.",
    "empty": "The submitted file is empty. Ask the learner to save (Ctrl-S) before submitting, then resubmit.",
    "unreadable": "The file is not UTF-8 text (binary, or another encoding). Ask the learner to resubmit the .ipynb.",
    "too_large": "The notebook is over 32 MiB (large outputs). Ask the learner to clear outputs "
                 "(Edit > Clear Outputs of All Cells) and resubmit.",
    "missing": "The submission has no <assignment>.ipynb (a renamed file?). Ask the learner to resubmit the "
               "notebook under its original name.",
    "unknown_assignment": "The folder is named after no assignment of the course. Check the collected folder names "
                          "(a typo, or an assignment of another course).",
    "error": "bnlab itself failed on this submission: regrade it (--force); if it fails again, report it with the "
             "record in OUT/results/.",
}
OTHER_ADVICE = "Read the reason in the learner's record and feedback page."
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
STYLE = """
:root{--ok:#176b2c;--bad:#a31515;--warn:#9a5b00;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#24292f;color:#fff;padding:.8rem 1.5rem}header h1{margin:0;font-size:1.3rem}
header p{margin:.2rem 0 0;color:#d0d7de;font-size:.9rem}nav{position:sticky;top:0;background:#fff;z-index:2;
border-bottom:1px solid var(--line);padding:.4rem 1.5rem}nav a{margin-right:1rem}
main{max-width:80rem;margin:0 auto;padding:0 1.5rem 3rem}section{margin-top:1.5rem}
h2{border-bottom:1px solid var(--line);padding-bottom:.3rem}h3{margin-bottom:.4rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid var(--line);padding:.3rem .55rem;
text-align:left;vertical-align:top;font-size:.92rem}th{background:var(--bg)}td.num,th.num{text-align:right}
.cards{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}.card{border:1px solid var(--line);
border-radius:6px;padding:.6rem .9rem;background:#fff}.status-graded{color:var(--ok)}.status-bad{color:var(--bad)}
.warning{border-left:4px solid var(--bad);background:#fff0f0;padding:.5rem 1rem}
.note{border-left:4px solid #888;background:var(--bg);padding:.5rem 1rem}
details{margin:.2rem 0}summary{cursor:pointer}.learners a{margin-right:.5rem;white-space:nowrap}
.bar{fill:#4c72b0}.axis{font-size:10px;fill:#555}#learners-controls{display:flex;gap:.7rem;align-items:center;
flex-wrap:wrap;margin:.5rem 0}#learners-controls input[type=search]{width:18rem;padding:.3rem}
#learners th button{font:inherit;font-weight:bold;background:none;border:0;cursor:pointer;padding:0}
#learners th button::after{content:" \\2195";color:#888}#learners th[aria-sort=ascending] button::after{content:" \\2191"}
#learners th[aria-sort=descending] button::after{content:" \\2193"}.muted{color:#666}
.pass{color:var(--ok)}.fail{color:var(--bad)}
"""
SCRIPT = r"""
(function(){
  const data = JSON.parse(document.getElementById('learners-data').textContent);
  const rows = data.rows, columns = data.columns;
  const body = document.querySelector('#learners tbody');
  const search = document.getElementById('learner-search');
  const assignment = document.getElementById('learner-assignment');
  const status = document.getElementById('learner-status');
  const count = document.getElementById('learner-count');
  const more = document.getElementById('learner-more');
  const PAGE = 250;  // rows drawn at once: the page stays fast with thousands of submissions
  let key = 'student', direction = 1, limit = PAGE;
  const esc = s => String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
  for (const r of rows) r.text = (r.student + ' ' + r.assignment + ' ' + r.status + ' ' + r.diagnosis).toLowerCase();
  function compare(a, b) {
    const x = a[key], y = b[key];
    if (x < y) return -direction; if (x > y) return direction;
    return a.student < b.student ? -1 : a.student > b.student ? 1 : (a.assignment < b.assignment ? -1 : 1);
  }
  function render() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const a = assignment.value, s = status.value;
    const shown = rows.filter(r => (!a || r.assignment === a) && (!s || r.status === s) &&
                                    words.every(w => r.text.includes(w)));
    shown.sort(compare);
    const drawn = Math.min(shown.length, limit);
    const parts = new Array(drawn);
    for (let i = 0; i < drawn; i++) {
      const r = shown[i];
      parts[i] = '<tr data-student="' + esc(r.student) + '"><td><a href="' + esc(r.href) + '">' + esc(r.student) +
        '</a></td><td>' + esc(r.assignment) + '</td><td class="' + (r.status === 'graded' ? 'status-graded' : 'status-bad') +
        '">' + esc(r.status) + '</td><td class="num">' + r.score + ' / ' + r.max + '</td><td class="num">' +
        r.seconds.toFixed(1) + '</td><td>' + esc(r.diagnosis) + '</td></tr>';
    }
    body.innerHTML = parts.join('');
    count.textContent = shown.length + ' of ' + rows.length + ' submissions' +
      (drawn < shown.length ? '; the first ' + drawn + ' shown' : '');
    more.hidden = drawn >= shown.length;
    for (const th of document.querySelectorAll('#learners th[data-key]'))
      th.setAttribute('aria-sort', th.dataset.key === key ? (direction > 0 ? 'ascending' : 'descending') : 'none');
  }
  for (const th of document.querySelectorAll('#learners th[data-key]')) {
    th.querySelector('button').addEventListener('click', () => {
      if (key === th.dataset.key) direction = -direction;
      else { key = th.dataset.key; direction = (key === 'score' || key === 'seconds') ? -1 : 1; }
      render();
    });
  }
  const again = () => { limit = PAGE; render(); };
  search.addEventListener('input', again);
  assignment.addEventListener('change', again);
  status.addEventListener('change', again);
  more.addEventListener('click', () => { limit += 1000000; render(); });
  render();
  document.body.dataset.ready = '1';
})();
"""


# Its own inline script and style only: nothing fetched, no form sent (the page lists learners' diagnoses).
DASHBOARD_POLICY = ("<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
                    "script-src 'unsafe-inline'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'\">")

def _e(value) -> str:
    return html.escape(str(value), quote=True)


def feedback_href(student_id: str, assignment: str) -> str:
    """The relative link from report.html to the learner's feedback page (the file name is
    already URL-quoted by ``safe_name``, so the link quotes its ``%`` once more)."""
    return "feedback/" + urllib.parse.quote(safe_name(student_id), safe="") + "/" + \
        urllib.parse.quote(f"{assignment}.html", safe="")


def _seconds(record: dict) -> float:
    return float(sum(v for v in (record.get("timings") or {}).values() if isinstance(v, (int, float))))


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _passed(cell: dict) -> bool:
    return bool(cell.get("max_score")) and cell.get("score") == cell.get("max_score")


def _histogram_svg(scores: list[float], max_score: float, label: str) -> str:
    """Bars of learners per score: one bar per point (0..max) up to 20 points, else 20 equal bins."""
    top = max(float(max_score), 1.0)
    per_point = top <= 20 and top.is_integer()
    counts = [0] * (int(top) + 1 if per_point else 20)
    for score in scores:
        index = int(round(score)) if per_point else int(score / top * 20)
        counts[min(max(index, 0), len(counts) - 1)] += 1
    width, height, left, bottom = 360, 150, 34, 22
    bar_width = (width - left - 4) / len(counts)
    tallest = max(counts) or 1
    bars, ticks = [], []
    for index, count in enumerate(counts):
        bar_height = (height - bottom - 8) * count / tallest
        x = left + index * bar_width
        bars.append(f"<rect class='bar' x='{x + 1:.1f}' y='{height - bottom - bar_height:.1f}' "
                    f"width='{bar_width - 2:.1f}' height='{bar_height:.1f}'><title>{count} learner(s)</title></rect>")
        if len(counts) <= 11 or index % 2 == 0:
            tick = index if per_point else f"{index * top / 20:g}"
            ticks.append(f"<text class='axis' x='{x + bar_width / 2:.1f}' y='{height - 8}' "
                         f"text-anchor='middle'>{tick}</text>")
    axis = (f"<text class='axis' x='{left - 4}' y='12' text-anchor='end'>{tallest}</text>"
            f"<text class='axis' x='{left - 4}' y='{height - bottom}' text-anchor='end'>0</text>"
            f"<line x1='{left}' y1='{height - bottom}' x2='{width}' y2='{height - bottom}' stroke='#888'/>")
    return (f"<svg role='img' aria-label='{_e(label)}' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}'><title>{_e(label)}</title>{axis}{''.join(bars)}{''.join(ticks)}</svg>")


def _learner_links(students: list[str], assignment: str, limit: int = 200) -> str:
    links = "".join(f"<a href='{_e(feedback_href(s, assignment))}'>{_e(s)}</a>" for s in students[:limit])
    more = f" <span class='muted'>and {len(students) - limit} more (search the learners table)</span>" \
        if len(students) > limit else ""
    return f"<div class='learners'>{links}{more}</div>"


def _assignment_section(assignment: str, rows: list[dict]) -> str:
    max_score = max((row["max_score"] for row in rows), default=0)
    scores = [row["score"] for row in rows]
    statuses = Counter(row["status"] for row in rows)
    mean = sum(scores) / len(scores) if scores else 0
    full = sum(1 for row in rows if max_score and row["score"] == row["max_score"])
    ordered = sorted(scores)
    median = ordered[len(ordered) // 2] if ordered else 0
    status_rows = []
    for status, count in sorted(statuses.items(), key=lambda item: (item[0] != "graded", -item[1], item[0])):
        students = sorted(row["student_id"] for row in rows if row["status"] == status)
        advice = "" if status == "graded" else _e(STATUS_ADVICE.get(status, OTHER_ADVICE))
        listed = "" if status == "graded" else (
            f"<details><summary>{count} learner(s)</summary>{_learner_links(students, assignment)}</details>")
        status_rows.append(f"<tr data-status='{_e(status)}'><td class='{'status-graded' if status == 'graded' else 'status-bad'}'>"
                           f"{_e(status)}</td><td class='num'>{count}</td><td>{advice}{listed}</td></tr>")

    # Item analysis: per exercise, passes; failures grouped by their diagnosis (numbers blanked).
    exercises: dict[str, dict] = {}
    for row in rows:
        for grade_id, cell in row["cells"].items():
            item = exercises.setdefault(grade_id, {"max": cell.get("max_score", 0), "passed": 0, "total": 0,
                                                   "groups": defaultdict(list), "examples": {}, "checks": Counter()})
            item["total"] += 1
            # The checks that held, one "✓ ..." line each in the feedback (numbers blanked).
            for line in (cell.get("feedback") or "").splitlines():
                if line.strip().startswith("✓"):
                    item["checks"][NUMBER.sub("#", line.strip().lstrip("✓").strip())] += 1
            if _passed(cell):
                item["passed"] += 1
                continue
            diagnosis = _first_line(cell.get("feedback", "")) or "(no diagnosis)"
            if row["status"] != "graded":
                diagnosis = f"[{row['status']}] {diagnosis}"
            key = NUMBER.sub("#", diagnosis)
            item["groups"][key].append(row["student_id"])
            item["examples"].setdefault(key, diagnosis)
    items = []
    for grade_id, item in exercises.items():
        rate = item["passed"] / item["total"] if item["total"] else 0
        groups = sorted(item["groups"].items(), key=lambda group: (-len(group[1]), group[0]))
        group_rows = "".join(
            f"<tr><td class='num'>{len(students)}</td><td><details><summary>{_e(item['examples'][key])}</summary>"
            f"{_learner_links(sorted(students), assignment)}</details></td></tr>" for key, students in groups)
        check_rows = "".join(f"<tr><td class='num'>{count}</td><td>✓ {_e(check)}</td></tr>"
                             for check, count in sorted(item["checks"].items(), key=lambda c: (-c[1], c[0])))
        items.append(
            f"<div class='card item' data-grade-id='{_e(grade_id)}'><h4>{_e(grade_id)} "
            f"<span class='muted'>({item['max']:g} point(s))</span></h4>"
            f"<p><b class='pass'>{item['passed']}</b> of {item['total']} passed ({rate:.0%}); "
            f"<b class='fail'>{item['total'] - item['passed']}</b> did not.</p>"
            + (f"<table class='checks'><tr><th class='num'>passed by</th><th>check</th></tr>{check_rows}</table>"
               if check_rows else "")
            + (f"<table><tr><th class='num'>learners</th><th>first check that failed: the diagnosis they read</th></tr>"
               f"{group_rows}</table>" if group_rows else "<p>Everyone passed every check.</p>") + "</div>")
    label = f"{assignment}: scores of {len(rows)} submissions"
    return (
        f"<section id='a-{_e(assignment)}' class='assignment' data-assignment='{_e(assignment)}'>"
        f"<h2>{_e(assignment)}</h2><div class='cards'>"
        f"<div class='card'><h3>Scores</h3>{_histogram_svg(scores, max_score, label)}"
        f"<p>{len(rows)} submissions; mean {mean:.2f}, median {median:g} of {max_score:g}; "
        f"{full} with full marks.</p></div>"
        f"<div class='card' style='flex:1;min-width:24rem'><h3>Statuses</h3><table class='statuses'>"
        f"<tr><th>status</th><th class='num'>submissions</th><th>what to do</th></tr>{''.join(status_rows)}</table></div>"
        f"</div><h3>Item analysis</h3><div class='cards'>{''.join(items) or '<p>No graded cells.</p>'}</div></section>")


def _slot_count(run: dict) -> int:
    """Submissions graded at once: local workers (an int), or a cluster's slots."""
    workers = run.get("workers")
    if isinstance(workers, int) and workers > 0:
        return workers
    slots = run.get("slots")
    return slots if isinstance(slots, int) and slots > 0 else 1


def _workers_text(run: dict) -> str:
    workers = run.get("workers")
    if isinstance(workers, dict):
        return (f"Cluster {_e(run.get('cluster', ''))}: {len(workers)} worker(s), {_slot_count(run)} slot(s) "
                f"({_e(', '.join(sorted(workers)))})")
    return f"Workers: {_e(workers if workers is not None else '?')}"


def _run_section(out: Path, records: list[dict]) -> str:
    try:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        started = (out / "run.json").stat().st_mtime
    except (OSError, json.JSONDecodeError):
        run, started = {}, None
    parts = []
    isolation = run.get("isolation", {})
    limits = run.get("limits", {})
    if run:
        text = (f"Limits per submission: {limits.get('cell_timeout')} s per cell, {limits.get('notebook_timeout')} s "
                f"per notebook, {limits.get('memory_mb')} MiB, {limits.get('threads')} thread(s), "
                f"{limits.get('max_processes')} processes; {_e(run.get('cgroups', ''))}. "
                f"{_workers_text(run)}.")
        if isolation.get("available"):
            parts.append(f"<p class='note' id='isolation'>Isolation: {_e(isolation.get('description', ''))}. {text}</p>")
        else:
            parts.append(f"<p class='warning' id='isolation'><b>WARNING: no isolation.</b> "
                         f"{_e(isolation.get('description', ''))}. Learners' code ran with the grader's rights. {text}</p>")
    else:
        parts.append("<p class='warning' id='isolation'>OUT/run.json is missing: how this cohort was isolated and "
                     "limited is unknown.</p>")
    total = sum(_seconds(record) for record in records)
    workers = _slot_count(run)
    if started is not None:
        wall = max(0.0, time.time() - started)
        parts.append(f"<p id='duration'>Last run: started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}, "
                     f"report written {wall:.0f} s later. All {len(records)} recorded submissions took {total:.0f} s of "
                     f"grading in total (about {total / workers:.0f} s on {workers} worker(s)); unchanged ones were "
                     f"not regraded by the last run.</p>")
    else:
        parts.append(f"<p id='duration'>{len(records)} recorded submissions took {total:.0f} s of grading in total.</p>")
    slowest = sorted(records, key=_seconds, reverse=True)[:10]
    phases = sorted({name for record in slowest for name in (record.get("timings") or {})})
    rows = "".join(
        f"<tr><td><a href='{_e(feedback_href(r['student_id'], r['assignment']))}'>{_e(r['student_id'])}</a></td>"
        f"<td>{_e(r['assignment'])}</td><td>{_e(r['status'])}</td><td class='num'>{_seconds(r):.1f}</td>"
        + "".join(f"<td class='num'>{(r.get('timings') or {}).get(p, 0):.1f}</td>" for p in phases) + "</tr>"
        for r in slowest)
    if rows:
        parts.append("<h3>Slowest submissions</h3><table id='slowest'><tr><th>student</th><th>assignment</th>"
                     "<th>status</th><th class='num'>total s</th>"
                     + "".join(f"<th class='num'>{_e(p)} s</th>" for p in phases) + f"</tr>{rows}</table>")
    return f"<section id='run'><h2>The run</h2>{''.join(parts)}</section>"


def _isolation_banner(out: Path) -> str:
    """A warning at the top of the page when learners' code ran without isolation."""
    try:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return ""
    if run.get("isolation", {}).get("available"):
        return ""
    return ("<p class='warning' id='isolation-warning'><b>WARNING: the last run had no isolation</b>: learners' "
            "code ran with the grader's rights (see <a href='#run'>the run</a>).</p>")


def _learners_section(records: list[dict]) -> str:
    rows = []
    for record in records:
        failed = [_first_line(cell.get("feedback", "")) for cell in record["cells"].values() if not _passed(cell)]
        diagnosis = record.get("reason") or "" if record["status"] != "graded" else ""
        diagnosis = "; ".join(filter(None, [diagnosis, *failed]))
        rows.append({"student": record["student_id"], "assignment": record["assignment"], "status": record["status"],
                     "score": record["score"], "max": record["max_score"], "seconds": round(_seconds(record), 1),
                     "diagnosis": diagnosis[:300], "href": feedback_href(record["student_id"], record["assignment"])})
    assignments = sorted({record["assignment"] for record in records})
    statuses = sorted({record["status"] for record in records})
    # "</" never appears inside the JSON, so the script element cannot be closed by a learner's id.
    payload = json.dumps({"rows": rows, "columns": ["student", "assignment", "status", "score", "seconds"]},
                         ensure_ascii=False).replace("<", "\\u003c")
    options = lambda values, everything: f"<option value=''>{everything}</option>" + "".join(  # noqa: E731
        f"<option value='{_e(v)}'>{_e(v)}</option>" for v in values)
    header = "".join(
        f"<th data-key='{key}'{' class=num' if key in ('score', 'seconds') else ''} aria-sort='none'>"
        f"<button type='button'>{label}</button></th>"
        for key, label in [("student", "student"), ("assignment", "assignment"), ("status", "status"),
                           ("score", "score"), ("seconds", "grading s")])
    return (f"<section id='learners-section'><h2>Learners</h2><div id='learners-controls'>"
            f"<input id='learner-search' type='search' placeholder='search a learner, a status, a diagnosis' "
            f"aria-label='search learners'><select id='learner-assignment' aria-label='assignment'>"
            f"{options(assignments, 'every assignment')}</select><select id='learner-status' aria-label='status'>"
            f"{options(statuses, 'every status')}</select><span id='learner-count' class='muted'></span></div>"
            f"<table id='learners'><thead><tr>{header}<th>what is still wrong</th></tr></thead><tbody></tbody></table>"
            f"<button type='button' id='learner-more' hidden>show all</button>"
            f"<noscript><p>The learners table needs JavaScript; grades.csv has the same rows.</p></noscript>"
            f"<script type='application/json' id='learners-data'>{payload}</script></section>")


def render_report(out: Path, records: list[dict]) -> str:
    """The dashboard's HTML for ``records`` (grades.json's records, with their timings)."""
    by_assignment: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_assignment[record["assignment"]].append(record)
    learners = len({record["student_id"] for record in records})
    statuses = Counter(record["status"] for record in records)
    not_graded = sum(count for status, count in statuses.items() if status != "graded")
    nav = "".join(f"<a href='#a-{_e(a)}'>{_e(a)}</a>" for a in sorted(by_assignment))
    sections = "".join(_assignment_section(a, rows) for a, rows in sorted(by_assignment.items()))
    summary = (f"{learners} learner(s), {len(records)} submission(s) in {len(by_assignment)} assignment(s); "
               f"{not_graded} not graded normally (see each assignment's statuses).")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{DASHBOARD_POLICY}"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>bnlab: instructor's dashboard"
            f"</title><style>{STYLE}</style></head><body><header><h1>bnlab: instructor's dashboard</h1>"
            f"<p id='summary'>{_e(summary)}</p></header><nav>{nav}<a href='#learners-section'>learners</a>"
            f"<a href='#run'>the run</a></nav><main>{_isolation_banner(out)}"
            f"{sections or '<p>No submissions.</p>'}{_learners_section(records)}{_run_section(out, records)}</main>"
            f"<script>{SCRIPT}</script></body></html>")


def write_report(out: Path, records: list[dict]) -> Path:
    """Write OUT/report.html (atomically) and return its path."""
    path = Path(out) / "report.html"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(render_report(Path(out), records), encoding="utf-8")
    os.replace(temporary, path)
    return path


__all__ = ["write_report", "render_report", "feedback_href", "STATUS_ADVICE"]
