/* The run page follows a run that is not finished: it asks the JSON API for the run every
 * second and reloads the page when the run or one of its steps changes, stopping once the
 * run has finished (the reloaded page then has no polling). */
(function () {
  "use strict";

  var root = document.getElementById("run");
  if (!root || root.dataset.finished === "true" || !root.dataset.apiUrl) {
    return;
  }
  var FINISHED = ["succeeded", "failed", "canceled"];
  var INTERVAL_MS = 1000;
  var MAX_FAILURES = 30;
  var failures = 0;
  var stopped = false;

  // The same text the server renders into data-signature.
  function signature(run) {
    var steps = (run.steps || []).map(function (step) {
      return step.status + ":" + step.attempts;
    });
    return run.status + "|" + steps.join(",");
  }

  function schedule() {
    if (!stopped) {
      window.setTimeout(poll, INTERVAL_MS);
    }
  }

  function poll() {
    fetch(root.dataset.apiUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          stopped = true; // signed out, or the run is gone: nothing more to follow
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (run) {
        if (!run) {
          return;
        }
        failures = 0;
        if (signature(run) !== root.dataset.signature) {
          stopped = true;
          window.location.reload();
        } else if (FINISHED.indexOf(run.status) !== -1) {
          stopped = true;
        }
      })
      .catch(function () {
        failures += 1;
        if (failures >= MAX_FAILURES) {
          stopped = true;
        }
      })
      .then(schedule);
  }

  schedule();
})();
