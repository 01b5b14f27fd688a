/* 我的导出: poll the state of the unfinished export jobs on the page and move their progress
   bars; when one finishes, reload so its download link (or its error) shows. */
(function () {
  "use strict";
  var script = document.currentScript;
  var url = script && script.getAttribute("data-progress-url");
  if (!url) { return; }

  function pending() {
    var bars = document.querySelectorAll(".gj-export-progress[data-finished='0']");
    return Array.prototype.map.call(bars, function (bar) { return bar.getAttribute("data-job"); });
  }

  function update(id, job) {
    var bar = document.querySelector(".gj-export-progress[data-job='" + id + "'] .progress-bar");
    var rows = document.querySelector(".gj-export-rows[data-job='" + id + "']");
    if (bar) { bar.style.width = job.percent + "%"; bar.textContent = job.percent + "%"; }
    if (rows) {
      var total = job.rows_total === null ? "?" : job.rows_total.toLocaleString();
      rows.textContent = rows.textContent.split(" ")[0] + " " + job.rows_done.toLocaleString() + " / " + total;
    }
  }

  function poll() {
    var ids = pending();
    if (!ids.length) { return; }
    var request = new XMLHttpRequest();
    request.open("GET", url + "?ids=" + ids.join(","));
    request.onload = function () {
      if (request.status !== 200) { return; }
      var jobs = JSON.parse(request.responseText), finished = false;
      Object.keys(jobs).forEach(function (id) {
        update(id, jobs[id]);
        finished = finished || jobs[id].finished;
      });
      if (finished) { window.location.reload(); } else { window.setTimeout(poll, 1500); }
    };
    request.send();
  }
  window.setTimeout(poll, 1000);
}());
