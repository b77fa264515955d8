/* Behaviour every page shares, kept out of the HTML so the Content-Security-Policy can forbid
 * inline script: forms with data-confirm ask before they submit (removing a member, revoking a
 * key, disconnecting an account, deleting a workflow); links with data-go-back go back. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a[data-go-back]") : null;
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
