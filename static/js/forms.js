// A form that changes something is sent once: a second click (or Enter) while
// the next page loads would send it again, and book or register twice.
//
// A form marked data-unsaved-warning (a session record, a consultation, a
// booking, a cancellation with its reason) keeps what was typed: leaving the
// page with changes not yet saved, by a link or by sending another form on it,
// asks first. A form marked data-saves-draft-first (adding a photo to a
// record being typed) saves the typing as a draft first, and asks only if
// that can't be done.
"use strict";

const UNSAVED = "form[data-unsaved-warning][data-changed]";
// Set once the user has chosen to leave (or to save), so the browser's own
// "leave the page?" question doesn't come as well.
let leaving = false;

// The names of the fields typed in, sent along as "changed_fields": should the
// save be refused (a colleague saved first), the page shows what was typed in
// those fields only, not the fields the colleague changed.
function noteChange(event) {
  const form = event.target.form;
  if (form && form.hasAttribute("data-unsaved-warning")) {
    form.dataset.changed = "true";
    const sent = form.elements.namedItem("changed_fields");
    if (sent && event.target.name && event.target !== sent) {
      const names = new Set(sent.value.split(",").filter(Boolean));
      names.add(event.target.name);
      sent.value = [...names].join(",");
    }
  }
}
document.addEventListener("input", noteChange, true);
document.addEventListener("change", noteChange, true);

document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    if (form.dataset.sent) {
      event.preventDefault();
      return;
    }
    const unsaved = [...document.querySelectorAll(UNSAVED)].filter(
      (other) => other !== form,
    );
    if (unsaved.length && form.hasAttribute("data-saves-draft-first")) {
      event.preventDefault();
      saveDraftThenSend(form, unsaved[0]);
      return;
    }
    if (
      unsaved.length &&
      !window.confirm(
        "What you typed on this page is not saved yet and will be lost. " +
          "Go on anyway?",
      )
    ) {
      event.preventDefault();
      return;
    }
    leaving = true;
    delete form.dataset.changed;
    if (form.method.toLowerCase() !== "post") {
      return;
    }
    form.dataset.sent = "true";
    form.setAttribute("aria-busy", "true");
  },
  true,
);

// The record's own "Save draft", sent in the background: "204 No Content" is
// the answer to a draft saved (plans.views.records.DRAFT_BEFORE_PHOTO); a
// refusal is a redirect with its message, or the page again with its errors.
async function saveDraftThenSend(form, record) {
  form.dataset.sent = "true";
  const data = new FormData(record);
  data.set("action", "save");
  let saved = false;
  try {
    // Not record.action: its buttons are named "action" too.
    const url = new URL(record.getAttribute("action") || "", window.location.href);
    const response = await fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-Draft-Before-Photo": "1" },
    });
    saved = response.status === 204;
  } catch {
    saved = false;
  }
  if (
    !saved &&
    !window.confirm(
      "What you typed on this page can't be saved as a draft as it is (the " +
        "page will say why once you save it) and will be lost. Go on anyway?",
    )
  ) {
    delete form.dataset.sent;
    return;
  }
  leaving = true;
  delete record.dataset.changed;
  form.setAttribute("aria-busy", "true");
  form.submit();
}

window.addEventListener("beforeunload", (event) => {
  if (!leaving && document.querySelector(UNSAVED)) {
    event.preventDefault();
    event.returnValue = "";
  }
});

// Coming back to the page (Back button) lets its forms be sent again.
window.addEventListener("pageshow", () => {
  leaving = false;
  for (const form of document.querySelectorAll("form[data-sent]")) {
    delete form.dataset.sent;
    form.removeAttribute("aria-busy");
  }
});

// A form sent back with something wrong: the first field in error is brought
// into view and focused (on a tablet the page opens at its top, and the
// message may be far below it); else the form's own error message.
(function showFirstError() {
  const field = document.querySelector(
    "form .is-invalid, form [aria-invalid='true']",
  );
  const shown =
    field ||
    document.querySelector(
      "form .alert-danger, form .invalid-feedback, form .text-danger",
    );
  if (!shown) {
    return;
  }
  shown.scrollIntoView({ block: "center" });
  // A group marked invalid (a screening question's Yes / No / Not asked yet):
  // its first button.
  const control =
    field && !field.matches("input, select, textarea, button")
      ? field.querySelector("input, select, textarea, button")
      : field;
  if (control) {
    // An error of the whole form besides (a patient on file already, asked
    // about above the fields): read out with the field's own.
    const formError = control.form && control.form.querySelector(".alert-danger");
    if (formError && !formError.contains(control)) {
      formError.id = formError.id || "form-error";
      const described = control.getAttribute("aria-describedby");
      control.setAttribute(
        "aria-describedby",
        [formError.id, described].filter(Boolean).join(" "),
      );
    }
    control.focus({ preventScroll: true });
  } else {
    // An error of the whole form (a sign-in refused, a signature that waits
    // for an answer): focused, so a screen reader reads it out.
    shown.setAttribute("tabindex", "-1");
    shown.focus({ preventScroll: true });
  }
})();

// Enter in a field of a part of a form that has its own button (the rows of a
// proposed series: "Check again") presses that button, not the form's first.
document.addEventListener("keydown", (event) => {
  const field = event.target;
  if (event.key !== "Enter" || !field.matches || !field.matches("input, select")) {
    return;
  }
  const part = field.closest("[data-enter-clicks]");
  const button =
    part &&
    field.form &&
    field.form.querySelector(
      `button[name="action"][value="${part.dataset.enterClicks}"]`,
    );
  if (button) {
    event.preventDefault();
    button.click();
  }
});
