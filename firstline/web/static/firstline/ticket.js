// The ticket page without reloads (the operator's flow).
//
// - A refusal (HTTP 422) is swapped in like a success, so it shows where the eye is; focus
//   goes to the first field in error, or after a saved checklist step to the next step's
//   first field, or after a whole-page change to the notice.
// - A page shown after a refused plain (non-HTMX) post puts the ticket's address back, so a
//   reload shows the ticket and never a 405.
// - Templates: choosing a canned reply or a typical request / macro (select[data-fills],
//   options with data-reply) fills the reply editor; the text stays editable, goes in
//   through execCommand("insertText") where the browser has it (Ctrl+Z undoes it), and its
//   "input" event makes HTMX check it by the reply rules like typed text.
// - A typical request's macro names what sending does (data-then): that send button
//   becomes the default one, and Ctrl+Enter in the editor presses the default button.
// - The reply draft is saved as typed (debounced) to data-draft-url and flushed when the
//   page goes away; sending cancels a pending save.
// No inline script or handler anywhere: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  const FOCUSABLE = "input:not([type=hidden]):not([disabled]), select:not([disabled]), " +
    "textarea:not([disabled]), button:not([disabled]), a[href]";

  function page() { return document.getElementById("ticket-page"); }
  function replyForm() { return document.getElementById("reply-form"); }
  function editor() {
    const form = replyForm();
    return form ? form.querySelector("textarea[name=text]") : null;
  }

  // --- The address stays the ticket's ------------------------------------------------------
  function restoreAddress() {
    const root = page();
    const url = root && root.dataset.ticketUrl;
    if (url && window.location.pathname !== url) {
      window.history.replaceState(null, "", url);
    }
  }

  // --- Drafts --------------------------------------------------------------------------------
  let draftTimer = null;

  function csrfToken(form) {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function saveDraft(keepalive) {
    draftTimer = null;
    const form = replyForm();
    const box = editor();
    if (!form || !box || !form.dataset.draftUrl) return;
    const data = new FormData();
    data.append("text", box.value);
    const kind = form.querySelector("input[name=kind]:checked");
    data.append("kind", kind ? kind.value : "");
    const replyKind = form.querySelector("select[name=reply_kind]");
    data.append("reply_kind", replyKind ? replyKind.value : "");
    data.append("csrfmiddlewaretoken", csrfToken(form));
    fetch(form.dataset.draftUrl, {
      method: "POST", body: data, credentials: "same-origin", keepalive: !!keepalive,
      headers: { "X-CSRFToken": csrfToken(form) },
    }).catch(function () { /* the next keystroke tries again */ });
  }

  function scheduleDraft() {
    if (draftTimer) clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraft, 600);
  }

  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#reply-form")) scheduleDraft();
  });
  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#reply-form") &&
        event.target.name !== "attachments") scheduleDraft();
  });
  window.addEventListener("pagehide", function () {
    if (draftTimer) { clearTimeout(draftTimer); saveDraft(true); }
  });

  // --- Templates and macros --------------------------------------------------------------------
  function put(box, text) {
    box.focus();
    let typed = false;
    try {
      typed = document.execCommand("insertText", false, text);
    } catch (error) {
      typed = false;
    }
    if (!typed) {
      box.setRangeText(text, box.selectionStart, box.selectionEnd, "end");
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  function fill(box, text) {
    const current = box.value;
    if (!current.trim() || current === box.dataset.filled) {
      // An empty editor, or one holding the last template untouched: the template replaces it.
      box.focus();
      box.setSelectionRange(0, current.length);
      put(box, text);
    } else {
      // The operator wrote something: the template goes in at the cursor, kept apart.
      const at = box.selectionEnd;
      const before = current.slice(0, at);
      put(box, (before && !/\n\s*$/.test(before) ? "\n\n" : "") + text);
    }
    box.dataset.filled = box.value;
  }

  function markDefault(then) {
    const form = replyForm();
    if (!form) return;
    const wanted = then && then !== "nothing" ? then : "plain";
    const buttons = form.querySelectorAll("button[data-send]");
    let found = false;
    buttons.forEach(function (button) { if (button.dataset.send === wanted) found = true; });
    buttons.forEach(function (button) {
      const on = found ? button.dataset.send === wanted : button.dataset.send === "plain";
      button.classList.toggle("primary", on);
    });
  }

  document.addEventListener("change", function (event) {
    const select = event.target.closest && event.target.closest("select[data-fills]");
    if (!select) return;
    const option = select.selectedOptions[0];
    if (select.id === "typical-choice") markDefault(option ? option.dataset.then : "");
    const box = document.querySelector(select.dataset.fills);
    if (option && box && option.dataset.reply !== undefined) fill(box, option.dataset.reply);
    if (select.id === "reply-template") select.value = "";
  });

  function currentThen() {
    const select = document.getElementById("typical-choice");
    const option = select && select.selectedOptions[0];
    return option && option.value ? option.dataset.then : "";
  }

  // --- Ctrl+Enter sends ------------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const form = event.target.closest && event.target.closest("#reply-form");
    if (!form) return;
    event.preventDefault();
    const button = form.querySelector("button.primary[data-send]") ||
      form.querySelector("button[type=submit]");
    // A click, so HTMX sends the button's name and value ("then") with the form.
    if (button) button.click();
  });

  // --- HTMX: refusals in place, focus, the editor across swaps -----------------------------------
  let pending = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = event.detail.elt;
    // Only a form's own post moves the focus: the live reply check, posted by the editor
    // while the operator types, must leave the cursor where it is.
    if (!form || form.tagName !== "FORM") return;
    if (form.id === "reply-form" && draftTimer) { clearTimeout(draftTimer); draftTimer = null; }
    if (!page() || !page().contains(form)) return;
    pending = { form: form, step: form.dataset.step || "", reply: form.id === "reply-form" };
  });

  // Another request (the live reply check, a draft save) may settle while a step's post is
  // still on its way: only the step's own response may take the pending focus move.
  function ownResponse(event) {
    const config = event.detail.requestConfig;
    return pending !== null && (!config || config.elt === pending.form);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    if (status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    if (ownResponse(event)) {
      pending.failed = status >= 400;
      const box = editor();
      // The whole page comes back for a hand-over or a resolution: the reply being written
      // (its draft may still be on its way) is put back afterwards.
      if (box && !pending.reply) pending.text = box.value;
    }
  });

  function firstError(scope) {
    const invalid = scope.querySelector("[aria-invalid=true]");
    if (invalid) return invalid;
    // "still-missing": what a hand-over lacks, shown all along; not an error of this action.
    const list = scope.querySelector(".errorlist:not(.still-missing)");
    if (!list) return null;
    const form = list.closest("form");
    return (form && form.querySelector(FOCUSABLE)) || list;
  }

  function nextField(step) {
    for (let next = step.nextElementSibling; next; next = next.nextElementSibling) {
      const field = next.querySelector(FOCUSABLE);
      if (field) return field;
    }
    return null;
  }

  function focus(element) {
    if (!element) return;
    if (!element.matches(FOCUSABLE) && !element.hasAttribute("tabindex")) {
      element.setAttribute("tabindex", "-1");
    }
    element.focus();
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!ownResponse(event)) return;
    const done = pending;
    pending = null;
    const box = editor();
    if (box && done.text !== undefined && box.value !== done.text) box.value = done.text;
    if (done.step === "typical") markDefault(currentThen());
    const stepId = done.step === "typical" || done.step === "handover" ? "finish" : done.step;
    const scope = (stepId && document.getElementById("step-" + stepId)) || page();
    if (!scope) return;
    const error = firstError(done.failed ? page() : scope);
    if (error) { focus(error); return; }
    if (done.step === "typical") { focus(box); return; }
    if (done.step && scope.id !== "ticket-page" && stepId !== "finish") {
      focus(nextField(scope));
      return;
    }
    focus(document.getElementById("ticket-notice"));
  });

  function ready() {
    restoreAddress();
    markDefault(currentThen());
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
