// reviewbot pages: poll a running review until it is done; follow b4's review-service links.
"use strict";

function pollProgress(box) {
  const url = box.dataset.statusUrl;
  const status = document.getElementById("progress-status");
  const step = document.getElementById("progress-step");
  const bar = document.getElementById("progress-bar");
  let delay = 500;
  function tick() {
    fetch(url, {headers: {"Accept": "application/json"}, cache: "no-store"})
      .then((r) => r.json())
      .then((job) => {
        if (job.status === "reviewed" || job.error || job.status === "error") {
          window.location.reload();
          return;
        }
        status.textContent = job.status;
        status.className = "status " + job.status;
        step.textContent = job.step + (job.total ? " " + job.done + "/" + job.total : "");
        bar.max = job.total || 1;
        bar.value = job.done;
        delay = Math.min(delay * 1.5, 3000);
        window.setTimeout(tick, delay);
      })
      .catch(() => window.setTimeout(tick, 3000));
  }
  window.setTimeout(tick, delay);
}

// b4 links to a review service as URL/#/patchset/<id> and URL/#/message/<msgid>
function followServiceLink() {
  const hash = window.location.hash;
  let m = hash.match(/^#\/message\/(.+)$/);
  if (m) {
    window.location.replace("/r/" + encodeURIComponent(decodeURIComponent(m[1])));
    return;
  }
  m = hash.match(/^#\/patchset\/(\d+)/);
  if (m) {
    window.location.replace("/patchset/" + m[1]);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("progress");
  if (box) {
    pollProgress(box);
  }
  followServiceLink();
});
