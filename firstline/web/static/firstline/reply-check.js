// The reply check's suggestions (F17): a click puts one into the reply.
//
// The findings panel (web/reply_check/panel.html) marks each suggestion with either
//   data-replace + data-start/data-end/data-found: replace those words in the reply, or
//   data-insert + data-where ("start" or "cursor"): add a missing part.
// Offsets are UTF-16 units, as textarea.value counts. The text goes in through
// execCommand("insertText") where the browser has it, so Ctrl+Z undoes it, and the
// "input" event it fires makes HTMX check the reply again.
(function () {
  "use strict";

  function nearest(text, words, around) {
    let best = -1;
    for (let at = text.indexOf(words); at >= 0; at = text.indexOf(words, at + 1)) {
      if (best < 0 || Math.abs(at - around) < Math.abs(best - around)) best = at;
    }
    return best;
  }

  function put(box, start, end, text) {
    box.focus();
    box.setSelectionRange(start, end);
    let typed = false;
    try {
      typed = document.execCommand("insertText", false, text);
    } catch (error) {
      typed = false;
    }
    if (!typed) {
      box.setRangeText(text, start, end, "end");
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
    // "Пожалуйста, пришлите …": select the gap, so typing fills it in.
    const gap = text.indexOf("…");
    if (gap >= 0) box.setSelectionRange(start + gap, start + gap + 1);
  }

  function replace(box, button) {
    const found = button.dataset.found;
    let start = Number(button.dataset.start);
    if (box.value.slice(start, start + found.length) !== found) {
      // The reply changed since it was checked: take the same words nearest to where they were.
      start = nearest(box.value, found, start);
      if (start < 0) return;
    }
    put(box, start, start + found.length, button.dataset.replace);
  }

  // "Иван, " before "Мы приняли…" makes "Иван, мы приняли…"; «Вы» and acronyms keep theirs.
  const KEEPS_CAPITAL = /^(?:Вы|Вас|Вам|Вами|Ваш\S*|You|Your|I)(?![\p{L}])|^\p{Lu}\p{Lu}/u;

  function insert(box, button) {
    let text = button.dataset.insert;
    if (button.dataset.where === "start") {
      const rest = box.value;
      let end = 0;
      if (/,\s*$/.test(text) && /^\p{Lu}/u.test(rest) && !KEEPS_CAPITAL.test(rest)) {
        text += rest.charAt(0).toLowerCase();
        end = 1;
      }
      put(box, 0, end, text);
      box.setSelectionRange(text.length, text.length);
      return;
    }
    const at = box.selectionEnd;
    const before = box.value.slice(0, at);
    if (before && !/\s$/.test(before)) text = " " + text;
    if (box.value.slice(at) && !/^\s/.test(box.value.slice(at))) text += " ";
    put(box, at, at, text);
  }

  // A reply already written when the page loads (the form came back with an error) is
  // checked at once. A "reply-check" event rather than an hx-trigger filter expression,
  // which HTMX would have to eval: the Content-Security-Policy forbids eval.
  if (window.htmx) {
    htmx.onLoad(function (root) {
      if (!root.querySelectorAll) return;
      root.querySelectorAll("textarea[name=text][hx-post]").forEach(function (box) {
        if (box.value.trim().length > 0) htmx.trigger(box, "reply-check");
      });
    });
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-replace], button[data-insert]");
    if (!button) return;
    const form = button.closest("form");
    const box = form && form.querySelector("textarea[name=text]");
    if (!box) return;
    event.preventDefault();
    if (button.dataset.replace !== undefined) replace(box, button);
    else insert(box, button);
  });
})();
