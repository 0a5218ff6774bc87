// The new-plan form: picking a protocol fills in its usual number of sessions
// and its target spacing, unless the practitioner has typed their own (a plan
// outside the protocol needs a reason, and Standard's numbers under another
// protocol would be refused).
"use strict";

(function followProtocol() {
  const data = document.getElementById("protocol-defaults");
  const protocol = document.getElementById("id_protocol");
  const sessions = document.getElementById("id_planned_sessions");
  const spacing = document.getElementById("id_spacing_days");
  if (!data || !protocol || !sessions || !spacing) {
    return;
  }
  const defaults = JSON.parse(data.textContent);
  const typed = new Set();
  for (const field of [sessions, spacing]) {
    field.addEventListener("input", () => typed.add(field));
  }
  protocol.addEventListener("change", () => {
    const chosen = defaults[protocol.value];
    if (!chosen) {
      return;
    }
    if (!typed.has(sessions)) {
      sessions.value = chosen.sessions;
    }
    if (!typed.has(spacing)) {
      spacing.value = chosen.spacing;
    }
  });
})();
