// A form that changes something is sent once: a second click (or Enter) while
// the next page loads would send it again, and book or register twice.
"use strict";

document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    if (form.method.toLowerCase() !== "post") {
      return;
    }
    if (form.dataset.sent) {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "true";
    form.setAttribute("aria-busy", "true");
  },
  true,
);

// Coming back to the page (Back button) lets its forms be sent again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sent]")) {
    delete form.dataset.sent;
    form.removeAttribute("aria-busy");
  }
});
