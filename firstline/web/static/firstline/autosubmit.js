// A <select data-autosubmit> submits its form when changed (filters without a button).
// A static file instead of an inline onchange handler: the Content-Security-Policy
// allows scripts only from our own static files.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    const field = event.target.closest("select[data-autosubmit]");
    if (field && field.form) field.form.requestSubmit();
  });
})();
